import Foundation
import Testing
import TestingSupport

/// The system service's user and models folder, made by systemd's own tools into an empty
/// root folder (`--root`), and the files that must agree with them.
@Suite("sysusers, tmpfiles and the units agree")
struct ServiceIdentityTests {
    static let sysusers = Tool.find("systemd-sysusers")
    static let tmpfiles = Tool.find("systemd-tmpfiles")
    static let canRun = sysusers != nil && tmpfiles != nil && getuid() == 0
    static let why = "needs systemd-sysusers and systemd-tmpfiles (Debian package systemd) and root, to own files as another user"

    @Test("systemd-sysusers creates the user, systemd-tmpfiles its models folder (0750, owned by it)",
          .enabled(if: ServiceIdentityTests.canRun, Comment(rawValue: ServiceIdentityTests.why)))
    func createsUserAndFolder() throws {
        let tree = try InstallTree.make()
        defer { tree.remove() }
        try tree.install()
        let system = tree.root + "/system-root"
        // sysusers edits an existing /etc; an empty one stands for a fresh machine.
        try FileManager.default.createDirectory(atPath: system + "/etc", withIntermediateDirectories: true)

        let users = try #require(Self.sysusers).run(["--root=\(system)", tree.prefix + "/lib/sysusers.d/dynamicrafter.conf"])
        #expect(users.status == 0, "\(users.stderr)")
        let passwd = try String(contentsOfFile: system + "/etc/passwd", encoding: .utf8)
        let entry = try #require(passwd.split(separator: "\n").map { $0.split(separator: ":", omittingEmptySubsequences: false).map(String.init) }
            .first { $0.first == "dynamicrafter" }, "no dynamicrafter in \(passwd)")
        try #require(entry.count == 7, "\(entry)")
        let uid = try #require(Int(entry[2]))
        let gid = try #require(Int(entry[3]))
        #expect((1 ..< 1000).contains(uid), "uid \(uid) is not a system uid")
        #expect(entry[4] == "DynamiCrafter animation service")
        #expect(entry[5] == "/var/lib/dynamicrafter")
        #expect(entry[6].hasSuffix("/nologin"), "shell \(entry[6])")
        let group = try String(contentsOfFile: system + "/etc/group", encoding: .utf8)
        #expect(group.split(separator: "\n").contains("dynamicrafter:x:\(gid):"), "\(group)")

        let folders = try #require(Self.tmpfiles).run(["--root=\(system)", "--create", tree.prefix + "/lib/tmpfiles.d/dynamicrafter.conf"])
        #expect(folders.status == 0, "\(folders.stderr)")
        let models = try FileManager.default.attributesOfItem(atPath: system + "/var/lib/dynamicrafter/models")
        #expect(models[.type] as? FileAttributeType == .typeDirectory)
        #expect(models[.posixPermissions] as? Int == 0o750)
        #expect((models[.ownerAccountID] as? NSNumber)?.intValue == uid)
        #expect((models[.groupOwnerAccountID] as? NSNumber)?.intValue == gid)
    }

    /// The names the files share: a typo in one would only show when the service runs.
    @Test("bus name, unit name, user, state and models folders are the same in every file")
    func namesAgree() throws {
        let tree = try InstallTree.make()
        defer { tree.remove() }
        try tree.install()
        let system = try KeyFile(contentsOfFile: tree.prefix + "/lib/systemd/system/dynamicrafterd.service")
        let user = try KeyFile(contentsOfFile: tree.prefix + "/lib/systemd/user/dynamicrafterd.service")
        let systemActivation = try KeyFile(contentsOfFile: tree.prefix + "/share/dbus-1/system-services/org.dynamicrafter.Animator1.service")
        let sessionActivation = try KeyFile(contentsOfFile: tree.prefix + "/share/dbus-1/services/org.dynamicrafter.Animator1.service")
        let busName = "org.dynamicrafter.Animator1"

        for (name, unit) in [("system", system), ("user", user)] {
            #expect(unit.value("Service", "Type") == "dbus", "\(name)")
            #expect(unit.value("Service", "BusName") == busName, "\(name)")
            #expect(unit.value("Service", "CPUSchedulingPolicy") == "batch", "\(name)")
            #expect(unit.value("Service", "ExecStart")?.hasPrefix("\(tree.bindir)/dynamicrafterd ") == true, "\(name)")
            // The daemon's graceful shutdown takes up to 10 s; systemd must wait longer.
            let stop = try #require(unit.value("Service", "TimeoutStopSec").flatMap { Int($0) }, "\(name): TimeoutStopSec in whole seconds")
            #expect(stop >= 20, "\(name): TimeoutStopSec=\(stop)")
            // oneDNN's JIT needs writable-then-executable memory.
            #expect(unit.values("Service", "MemoryDenyWriteExecute").allSatisfy { $0 == "no" || $0 == "false" }, "\(name)")
        }
        #expect(user.value("Service", "ExecStart") == "\(tree.bindir)/dynamicrafterd --bus session")

        for (name, activation) in [("system", systemActivation), ("session", sessionActivation)] {
            #expect(activation.sectionOrder == ["D-BUS Service"], "\(name)")
            #expect(activation.value("D-BUS Service", "Name") == busName, "\(name)")
            // Activation goes through the unit of that name where systemd runs.
            #expect(activation.value("D-BUS Service", "SystemdService") == "dynamicrafterd.service", "\(name)")
        }
        // Without systemd the bus runs Exec= itself: the same program, for the system bus.
        let exec = try #require(systemActivation.value("D-BUS Service", "Exec")).split(separator: " ").map(String.init)
        #expect(exec.first == "\(tree.bindir)/dynamicrafterd" && exec.contains("--bus") && exec.contains("system"), "\(exec)")

        let account = "dynamicrafter"
        #expect(system.value("Service", "User") == account)
        #expect(system.value("Service", "Group") == account)
        #expect(systemActivation.value("D-BUS Service", "User") == account)
        let sysusers = try tree.text(tree.prefix + "/lib/sysusers.d/dynamicrafter.conf")
        #expect(sysusers.contains("\nu \(account) -:\(account) \"DynamiCrafter animation service\" /var/lib/\(account)\n"))
        #expect(system.value("Service", "StateDirectory") == account)
        let models = "/var/lib/\(account)/models"
        #expect(system.value("Service", "ExecStart")?.hasSuffix("--models-dir \(models)") == true)
        let tmpfiles = try tree.text(tree.prefix + "/lib/tmpfiles.d/dynamicrafter.conf")
        #expect(tmpfiles.contains("\nd \(models) 0750 \(account) \(account) -\n"))
    }
}
