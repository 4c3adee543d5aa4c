import Foundation
import Testing
import TestingSupport

/// `scripts/install.sh`: what it installs where, what it writes into the files, and that
/// `--uninstall` takes exactly that set away again.
@Suite("install.sh")
struct InstallScriptTests {
    /// The files every install writes, relative to PREFIX (the policy's folder aside).
    static let common = [
        "bin/dynamicrafter",
        "bin/dynamicrafterd",
        "lib/systemd/system/dynamicrafterd.service",
        "lib/systemd/user/dynamicrafterd.service",
        "lib/sysusers.d/dynamicrafter.conf",
        "lib/tmpfiles.d/dynamicrafter.conf",
        "share/dbus-1/interfaces/org.dynamicrafter.Animator1.xml",
        "share/dbus-1/services/org.dynamicrafter.Animator1.service",
        "share/dbus-1/system-services/org.dynamicrafter.Animator1.service",
    ]

    /// Text files whose `@name@` placeholders install.sh replaces.
    static let substituted = [
        "lib/systemd/system/dynamicrafterd.service",
        "lib/systemd/user/dynamicrafterd.service",
        "share/dbus-1/services/org.dynamicrafter.Animator1.service",
        "share/dbus-1/system-services/org.dynamicrafter.Animator1.service",
    ]

    static func placeholders(in text: String) -> [String] {
        text.matches(of: /@[A-Za-z_]+@/).map { String($0.output) }
    }

    @Test("installs the full set into PREFIX with @bindir@ replaced and no placeholder left")
    func installIntoPrefix() throws {
        let tree = try InstallTree.make()
        defer { tree.remove() }
        let result = try tree.run()
        try #require(result.status == 0, "install.sh failed: \(result.stderr)")
        let expected = (Self.common + ["share/dbus-1/system.d/org.dynamicrafter.Animator1.conf"]).sorted()
        #expect(try tree.installedFiles() == expected)
        // It says what it installs, one line a file.
        for file in expected {
            #expect(result.stdout.contains("installed \(tree.prefix)/\(file)\n"), "not reported: \(file)")
        }
        for file in expected {
            let path = tree.prefix + "/" + file
            let mode = try #require(FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
            #expect(mode == (file.hasPrefix("bin/") ? 0o755 : 0o644), "\(file) has mode \(String(mode, radix: 8))")
            let text = try tree.text(path)
            #expect(Self.placeholders(in: text).isEmpty, "\(file) still holds \(Self.placeholders(in: text))")
        }
        for file in Self.substituted {
            #expect(try tree.text(tree.prefix + "/" + file).contains("\(tree.bindir)/dynamicrafterd"),
                    "\(file) does not start \(tree.bindir)/dynamicrafterd")
        }
        // Copies of the sources, byte for byte.
        for (installed, source) in [("share/dbus-1/interfaces/org.dynamicrafter.Animator1.xml", "dbus/org.dynamicrafter.Animator1.xml"),
                                    ("lib/sysusers.d/dynamicrafter.conf", "packaging/dynamicrafter.sysusers"),
                                    ("lib/tmpfiles.d/dynamicrafter.conf", "packaging/dynamicrafter.tmpfiles")] {
            let original = InstallTree.repository.appendingPathComponent(source)
            #expect(try Data(contentsOf: URL(fileURLWithPath: tree.prefix + "/" + installed)) == Data(contentsOf: original), "\(installed)")
        }
    }

    @Test("DESTDIR stages the install without writing DESTDIR into any file; the policy goes where dbus-daemon reads it",
          arguments: [("/usr", "usr/share/dbus-1/system.d"), ("/usr/local", "etc/dbus-1/system.d")])
    func stagedInstall(prefix: String, policyFolder: String) throws {
        let tree = try InstallTree.make(prefix: prefix)
        defer { tree.remove() }
        try tree.install()
        let relativePrefix = String(prefix.dropFirst())
        let expected = (Self.common.map { relativePrefix + "/" + $0 } + [policyFolder + "/org.dynamicrafter.Animator1.conf"]).sorted()
        #expect(try tree.installedFiles() == expected)
        for file in Self.substituted {
            let text = try tree.text(prefix + "/" + file)
            #expect(text.contains("\(prefix)/bin/dynamicrafterd"), "\(file)")
            #expect(!text.contains(tree.root), "\(file) mentions the staging folder")
        }
    }

    @Test("running it twice gives the same files, byte for byte, and nothing left over")
    func idempotent() throws {
        let tree = try InstallTree.make(plugin: true)
        defer { tree.remove() }
        try tree.install()
        let first = try tree.installedFiles()
        let firstBytes = try first.map { try Data(contentsOf: URL(fileURLWithPath: tree.prefix + "/" + $0)) }
        try tree.install()
        #expect(try tree.installedFiles() == first)
        #expect(try first.map { try Data(contentsOf: URL(fileURLWithPath: tree.prefix + "/" + $0)) } == firstBytes)
    }

    @Test("the GStreamer plugin goes to lib/<multiarch>/gstreamer-1.0, the folder layout of Debian's GStreamer")
    func plugin() throws {
        let tree = try InstallTree.make(plugin: true)
        defer { tree.remove() }
        try tree.install()
        let files = try tree.installedFiles()
        let plugins = files.filter { $0.hasSuffix("libgstdynamicrafter.so") }
        try #require(plugins.count == 1, "installed: \(files)")
        let parts = plugins[0].split(separator: "/").map(String.init)
        #expect(parts.count == 4 && parts[0] == "lib" && parts[2] == "gstreamer-1.0", "\(plugins[0])")
        // Debian's own plugins sit in /usr/lib/<multiarch>/gstreamer-1.0: the same triplet.
        if let pkgConfig = Tool.find("pkg-config"),
           let pluginsDir = try? pkgConfig.run(["--variable=pluginsdir", "gstreamer-1.0"]), pluginsDir.status == 0 {
            #expect(pluginsDir.stdout.trimmingCharacters(in: .whitespacesAndNewlines).hasSuffix("/\(parts[1])/gstreamer-1.0"),
                    "GStreamer's plugins are in \(pluginsDir.stdout), ours went to \(plugins[0])")
        }
    }

    @Test("without a plugin in the build folder it says so and installs the rest")
    func noPlugin() throws {
        let tree = try InstallTree.make(plugin: false)
        defer { tree.remove() }
        let result = try tree.run()
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("GStreamer plugin is not installed"))
        #expect(try tree.installedFiles().allSatisfy { !$0.contains("gstreamer-1.0") })
    }

    @Test("--uninstall removes every installed file and reports each", arguments: [nil, "/usr"] as [String?])
    func uninstall(prefix: String?) throws {
        let tree = try InstallTree.make(prefix: prefix, plugin: true)
        defer { tree.remove() }
        try tree.install()
        let installed = try tree.installedFiles()
        #expect(installed.count == Self.common.count + 2)
        let result = try tree.run(["--uninstall"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try tree.installedFiles() == [])
        #expect(result.stdout.split(separator: "\n").filter { $0.hasPrefix("removed ") }.count == installed.count)
        // A second --uninstall has nothing left to do and still succeeds.
        let again = try tree.run(["--uninstall"])
        #expect(again.status == 0 && again.stdout.isEmpty, "\(again.stdout)\(again.stderr)")
    }

    @Test("with no built programs it fails before writing anything")
    func missingBinaries() throws {
        let tree = try InstallTree.make(binaries: false)
        defer { tree.remove() }
        let result = try tree.run()
        #expect(result.status != 0)
        #expect(result.stderr.contains("dynamicrafter is missing"), "\(result.stderr)")
        #expect(try tree.installedFiles() == [])
    }

    @Test("unknown arguments are refused")
    func unknownArgument() throws {
        let tree = try InstallTree.make()
        defer { tree.remove() }
        let result = try tree.run(["--prefix=/opt"])
        #expect(result.status == 2)
        #expect(result.stderr.contains("unknown argument '--prefix=/opt'"), "\(result.stderr)")
        #expect(try tree.installedFiles() == [])
    }
}
