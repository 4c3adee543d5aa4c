import DBusKit

/// The interface the daemon serves: dbus/org.dynamicrafter.Animator1.xml, names and loading.
enum AnimatorInterface {
    static let busName = "org.dynamicrafter.Animator1"
    static let managerPath = "/org/dynamicrafter/Animator1"
    static let jobRoot = "/org/dynamicrafter/Animator1/Job"
    static let managerName = "org.dynamicrafter.Animator1"
    static let jobName = "org.dynamicrafter.Animator1.Job"

    /// The documented interface file, embedded at build time (the target's
    /// org.dynamicrafter.Animator1.xml is a link to dbus/org.dynamicrafter.Animator1.xml):
    /// the installed daemon needs no data file, and there is one copy of the interface.
    static var xml: String { String(decoding: PackageResources.org_dynamicrafter_Animator1_xml, as: UTF8.self) }

    /// The manager and job interfaces, from the built-in text or a documented XML file.
    static func load(path: String?) throws(DBusError) -> (manager: DBusInterfaceInfo, job: DBusInterfaceInfo) {
        let node: DBusNodeInfo
        if let path {
            node = try DBusNodeInfo(contentsOfFile: path)
        } else {
            node = try DBusNodeInfo(xml: xml)
        }
        guard let manager = node.interface(named: managerName), let job = node.interface(named: jobName) else {
            throw DBusError(name: DBusError.Name.failed,
                            message: "\(path ?? "the built-in interface") does not declare both \(managerName) and \(jobName)")
        }
        return (manager, job)
    }
}
