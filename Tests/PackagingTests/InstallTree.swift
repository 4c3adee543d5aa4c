import Foundation
import Testing
import TestingSupport

/// `scripts/install.sh` run into a fresh temporary folder. Small shell scripts stand in for the
/// built programs (the tests check where files go and what they say, not the programs); each
/// one records how it was started in `stubLog`, one argument a line, argv[0] first.
struct InstallTree {
    /// The repository holding `scripts/install.sh`, from this file's location.
    static let repository = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The temporary folder holding everything below; removed by `remove()`.
    let root: String
    /// `PREFIX` as given to install.sh (and so as written into the units).
    let prefix: String
    /// `DESTDIR`, or nil for an install straight into `prefix`.
    let destdir: String?
    /// The stub build folder given to `--build-dir`.
    let buildDir: String
    /// Where the stubs record their command lines.
    let stubLog: String

    var bindir: String { prefix + "/bin" }

    /// Where a file installed as `destination` (a path under `prefix`, as written into the
    /// units) really is on disk.
    func onDisk(_ destination: String) -> String { (destdir ?? "") + destination }

    /// A fresh tree. `prefix` nil installs into a folder inside the tree, with no DESTDIR, so
    /// the paths written into the units exist here (systemd-analyze verify needs ExecStart's
    /// program). A given `prefix` (such as /usr) is staged under a DESTDIR inside the tree.
    static func make(prefix: String? = nil, plugin: Bool = false, binaries: Bool = true) throws -> InstallTree {
        let root = FileManager.default.temporaryDirectory
            .appendingPathComponent("packaging-tests-\(UUID().uuidString)").standardizedFileURL.path
        let buildDir = root + "/build"
        try FileManager.default.createDirectory(atPath: buildDir, withIntermediateDirectories: true)
        let tree = InstallTree(root: root, prefix: prefix ?? root + "/prefix", destdir: prefix == nil ? nil : root + "/destdir",
                               buildDir: buildDir, stubLog: root + "/stub.log")
        if binaries {
            let stub = "#!/bin/sh\n# Stands in for a built program: records how it was started, then fails.\nprintf '%s\\n' \"$0\" \"$@\" >> \"\(tree.stubLog)\"\nexit 1\n"
            for name in ["dynamicrafter", "dynamicrafterd"] {
                let path = buildDir + "/" + name
                try stub.write(toFile: path, atomically: true, encoding: .utf8)
                try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
            }
        }
        if plugin {
            // Not a loadable plugin; install.sh only copies it.
            try Data("plugin stand-in".utf8).write(to: URL(fileURLWithPath: buildDir + "/libgstdynamicrafter.so"))
        }
        return tree
    }

    /// Runs install.sh with `arguments` after `--no-build --build-dir`, PREFIX and DESTDIR.
    func run(_ arguments: [String] = []) throws -> Tool.Result {
        var environment = ["PREFIX": prefix, "DESTDIR": destdir ?? ""]
        // The policy folder follows from PREFIX; a caller's own setting must not leak in.
        environment["DBUS_POLICY_DIR"] = ""
        let script = Self.repository.appendingPathComponent("scripts/install.sh").path
        return try Tool(path: script).run(["--no-build", "--build-dir", buildDir] + arguments, environment: environment)
    }

    /// Runs install.sh and requires it to succeed.
    func install() throws {
        let result = try run()
        try #require(result.status == 0, "install.sh failed (\(result.status)): \(result.stderr)")
    }

    /// Every file (not folder) below the install location (DESTDIR, or the prefix when there
    /// is none), relative to it, sorted.
    func installedFiles() throws -> [String] {
        let top = destdir ?? prefix
        guard FileManager.default.fileExists(atPath: top) else { return [] }
        guard let walker = FileManager.default.enumerator(atPath: top) else { return [] }
        var files: [String] = []
        for case let relative as String in walker {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: top + "/" + relative, isDirectory: &isDirectory), !isDirectory.boolValue {
                files.append(relative)
            }
        }
        return files.sorted()
    }

    /// The text of an installed file, `destination` as written into the units.
    func text(_ destination: String) throws -> String {
        try String(contentsOfFile: onDisk(destination), encoding: .utf8)
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: root)
    }
}
