import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
import TestingSupport

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
        let send = try #require(Self.send)
        // The policy's user and group need not exist here: dbus-daemon warns and goes on,
        // but it refuses to start on a policy file it cannot parse (PrivateBus then throws
        // with what it said). The activated stub logs its command line to STUB_LOG.
        let bus = try PrivateBus(serviceDirectories: ["\(tree.prefix)/share/dbus-1/\(servicesFolder)"],
                                 includes: ["\(tree.prefix)/share/dbus-1/system.d/org.dynamicrafter.Animator1.conf"],
                                 environment: ProcessInfo.processInfo.environment.merging(["STUB_LOG": tree.stubLog]) { _, new in new })
        defer { bus.stop() }
        let address = "--bus=\(bus.address)"
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
