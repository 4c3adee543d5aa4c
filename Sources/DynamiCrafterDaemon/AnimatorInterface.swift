import DBusKit

/// The interface the daemon serves: dbus/org.dynamicrafter.Animator1.xml without its
/// documentation. Kept here so the installed daemon needs no data file; the integration tests
/// check that the running daemon's introspection equals the documented file, so the two
/// cannot drift apart unnoticed.
enum AnimatorInterface {
    static let busName = "org.dynamicrafter.Animator1"
    static let managerPath = "/org/dynamicrafter/Animator1"
    static let jobRoot = "/org/dynamicrafter/Animator1/Job"
    static let managerName = "org.dynamicrafter.Animator1"
    static let jobName = "org.dynamicrafter.Animator1.Job"

    static let xml = """
        <node>
          <interface name="org.dynamicrafter.Animator1">
            <method name="Animate">
              <arg name="image" type="h" direction="in"/>
              <arg name="options" type="a{sv}" direction="in"/>
              <arg name="job" type="o" direction="out"/>
              <annotation name="org.gtk.GDBus.C.UnixFD" value="true"/>
            </method>
            <method name="GetModels">
              <arg name="models" type="a(sa{sv})" direction="out"/>
            </method>
            <method name="LoadModel">
              <arg name="name" type="s" direction="in"/>
            </method>
            <method name="UnloadModel"/>
            <property name="Version" type="s" access="read">
              <annotation name="org.freedesktop.DBus.Property.EmitsChangedSignal" value="const"/>
            </property>
            <property name="LoadedModel" type="s" access="read">
              <annotation name="org.freedesktop.DBus.Property.EmitsChangedSignal" value="true"/>
            </property>
            <property name="State" type="s" access="read">
              <annotation name="org.freedesktop.DBus.Property.EmitsChangedSignal" value="true"/>
            </property>
            <property name="QueueLength" type="u" access="read">
              <annotation name="org.freedesktop.DBus.Property.EmitsChangedSignal" value="true"/>
            </property>
            <property name="Backend" type="s" access="read">
              <annotation name="org.freedesktop.DBus.Property.EmitsChangedSignal" value="const"/>
            </property>
            <property name="Precision" type="s" access="read">
              <annotation name="org.freedesktop.DBus.Property.EmitsChangedSignal" value="const"/>
            </property>
          </interface>
          <interface name="org.dynamicrafter.Animator1.Job">
            <method name="Cancel"/>
            <method name="TakeFrames">
              <arg name="frames" type="h" direction="out"/>
              <arg name="info" type="a{sv}" direction="out"/>
              <annotation name="org.gtk.GDBus.C.UnixFD" value="true"/>
            </method>
            <signal name="Completed">
              <arg name="success" type="b"/>
              <arg name="error_name" type="s"/>
              <arg name="message" type="s"/>
            </signal>
            <property name="State" type="s" access="read">
              <annotation name="org.freedesktop.DBus.Property.EmitsChangedSignal" value="true"/>
            </property>
            <property name="Stage" type="s" access="read">
              <annotation name="org.freedesktop.DBus.Property.EmitsChangedSignal" value="true"/>
            </property>
            <property name="Progress" type="d" access="read">
              <annotation name="org.freedesktop.DBus.Property.EmitsChangedSignal" value="true"/>
            </property>
            <property name="Step" type="u" access="read">
              <annotation name="org.freedesktop.DBus.Property.EmitsChangedSignal" value="true"/>
            </property>
            <property name="TotalSteps" type="u" access="read">
              <annotation name="org.freedesktop.DBus.Property.EmitsChangedSignal" value="true"/>
            </property>
            <property name="RemainingSeconds" type="d" access="read">
              <annotation name="org.freedesktop.DBus.Property.EmitsChangedSignal" value="true"/>
            </property>
          </interface>
        </node>
        """

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
