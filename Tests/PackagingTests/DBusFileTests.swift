import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing

/// The installed D-Bus files, read by a real dbus-daemon: it refuses a malformed policy, lists
/// only activation files it could parse, and starts what their `Exec=` line says.
@Suite("D-Bus files")
struct DBusFileTests {
    static let daemon = Tool.find("dbus-daemon")
    static let send = Tool.find("dbus-send")
    static let why = "dbus-daemon and dbus-send are missing (Debian package dbus)"
    static let busName = "org.dynamicrafter.Animator1"

    @Test("the interface XML and the bus policy are well-formed XML",
          arguments: ["share/dbus-1/interfaces/org.dynamicrafter.Animator1.xml", "share/dbus-1/system.d/org.dynamicrafter.Animator1.conf"])
    func wellFormed(file: String) throws {
        let tree = try InstallTree.make()
        defer { tree.remove() }
        try tree.install()
        let parser = XMLParser(data: try Data(contentsOf: URL(fileURLWithPath: tree.prefix + "/" + file)))
        parser.shouldResolveExternalEntities = false
        #expect(parser.parse(), "\(file): line \(parser.lineNumber): \(String(describing: parser.parserError))")
    }

    /// A private bus reading the installed activation folder (and, for the system one, the
    /// installed policy): which name it can activate, and what it runs to activate it.
    static func activate(servicesFolder: String, tree: InstallTree) throws -> (names: String, start: Tool.Result, launched: [String]) {
        let daemon = try #require(Self.daemon)
        let send = try #require(Self.send)
        let socket = tree.root + "/bus"
        let config = tree.root + "/bus.conf"
        // The policy's user and group need not exist here: dbus-daemon warns and goes on,
        // but it refuses to start on a policy file it cannot parse.
        try """
        <!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
         "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
        <busconfig>
          <listen>unix:path=\(socket)</listen>
          <auth>EXTERNAL</auth>
          <servicedir>\(tree.prefix)/share/dbus-1/\(servicesFolder)</servicedir>
          <policy context="default">
            <allow send_destination="*" eavesdrop="true"/>
            <allow eavesdrop="true"/>
            <allow own="*"/>
          </policy>
          <include>\(tree.prefix)/share/dbus-1/system.d/org.dynamicrafter.Animator1.conf</include>
        </busconfig>
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let bus = try daemon.start(["--config-file=\(config)", "--nofork", "--nopidfile"], environment: ["STUB_LOG": tree.stubLog],
                                   stdout: tree.root + "/bus.out", stderr: tree.root + "/bus.err")
        defer { Tool.stop(bus) }
        let deadline = ContinuousClock.now + .seconds(10)
        while !FileManager.default.fileExists(atPath: socket) {
            let log = (try? String(contentsOfFile: tree.root + "/bus.err", encoding: .utf8)) ?? ""
            try #require(bus.isRunning, "dbus-daemon refused the configuration: \(log)")
            try #require(ContinuousClock.now < deadline, "dbus-daemon did not listen within 10 s: \(log)")
            Thread.sleep(forTimeInterval: 0.02)
        }
        let address = "--bus=unix:path=\(socket)"
        let names = try send.run([address, "--print-reply", "--dest=org.freedesktop.DBus", "/org/freedesktop/DBus",
                                  "org.freedesktop.DBus.ListActivatableNames"])
        try #require(names.status == 0, "\(names.stderr)")
        let start = try send.run([address, "--print-reply", "--reply-timeout=10000", "--dest=org.freedesktop.DBus", "/org/freedesktop/DBus",
                                  "org.freedesktop.DBus.StartServiceByName", "string:\(busName)", "uint32:0"])
        let launched = ((try? String(contentsOfFile: tree.stubLog, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        return (names.stdout, start, launched)
    }

    @Test("system-bus activation: the bus lists the name and runs the installed daemon as Exec= says",
          .enabled(if: DBusFileTests.daemon != nil && DBusFileTests.send != nil, Comment(rawValue: DBusFileTests.why)))
    func systemActivation() throws {
        let tree = try InstallTree.make()
        defer { tree.remove() }
        try tree.install()
        let (names, start, launched) = try Self.activate(servicesFolder: "system-services", tree: tree)
        #expect(names.contains("string \"\(Self.busName)\""), "\(names)")
        // The stub exits 1 at once, so activation fails, having run exactly the Exec= line.
        #expect(start.status != 0 && start.stderr.contains("Spawn.ChildExited"), "\(start.stdout)\(start.stderr)")
        let exec = try #require(KeyFile(contentsOfFile: tree.prefix + "/share/dbus-1/system-services/\(Self.busName).service")
            .value("D-BUS Service", "Exec"))
        #expect(launched == exec.split(separator: " ").map(String.init), "Exec=\(exec)")
        #expect(launched.first == "\(tree.bindir)/dynamicrafterd", "\(launched)")
    }

    @Test("session-bus activation: the bus lists the name and runs the installed daemon",
          .enabled(if: DBusFileTests.daemon != nil && DBusFileTests.send != nil, Comment(rawValue: DBusFileTests.why)))
    func sessionActivation() throws {
        let tree = try InstallTree.make()
        defer { tree.remove() }
        try tree.install()
        let (names, start, launched) = try Self.activate(servicesFolder: "services", tree: tree)
        #expect(names.contains("string \"\(Self.busName)\""), "\(names)")
        #expect(start.status != 0 && start.stderr.contains("Spawn.ChildExited"), "\(start.stdout)\(start.stderr)")
        #expect(launched.first == "\(tree.bindir)/dynamicrafterd", "\(launched)")
    }
}
