import Foundation
import Testing
import TestingSupport

/// The systemd units as installed (placeholders replaced), checked by systemd's own analyser.
/// `systemd-analyze verify` runs without a running systemd; it reports most problems as
/// warnings on stderr while still exiting 0, so any stderr output fails a test.
@Suite("systemd units")
struct SystemdUnitTests {
    static let analyzer = Tool.find("systemd-analyze")
    static let missing = "systemd-analyze is missing (Debian package systemd; scripts/install-deps.sh installs it)"

    static let systemUnit = "/lib/systemd/system/dynamicrafterd.service"
    static let userUnit = "/lib/systemd/user/dynamicrafterd.service"

    /// Runs systemd-analyze in a fixed UTF-8 locale with a private runtime folder (the
    /// `--user` mode needs one and CI has no session).
    static func analyze(_ arguments: [String], tree: InstallTree) throws -> Tool.Result {
        let analyzer = try #require(Self.analyzer)
        let runtime = tree.root + "/runtime"
        try FileManager.default.createDirectory(atPath: runtime, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        return try analyzer.run(arguments, environment: ["XDG_RUNTIME_DIR": runtime, "LC_ALL": "C.UTF-8", "SYSTEMD_COLORS": "0"])
    }

    @Test("systemd-analyze verify: the system unit, silent", .enabled(if: SystemdUnitTests.analyzer != nil, Comment(rawValue: SystemdUnitTests.missing)))
    func verifySystemUnit() throws {
        let tree = try InstallTree.make()
        defer { tree.remove() }
        try tree.install()
        let result = try Self.analyze(["verify", tree.onDisk(tree.prefix + Self.systemUnit)], tree: tree)
        #expect(result.status == 0, "verify exited \(result.status): \(result.stderr)")
        #expect(result.stderr.isEmpty, "verify warned: \(result.stderr)")
    }

    @Test("systemd-analyze --user verify: the user unit, silent", .enabled(if: SystemdUnitTests.analyzer != nil, Comment(rawValue: SystemdUnitTests.missing)))
    func verifyUserUnit() throws {
        let tree = try InstallTree.make()
        defer { tree.remove() }
        try tree.install()
        let result = try Self.analyze(["--user", "verify", tree.onDisk(tree.prefix + Self.userUnit)], tree: tree)
        // Type=dbus pulls in the user bus's dbus.socket, which Debian ships in dbus-user-session.
        #expect(result.status == 0, "verify exited \(result.status): \(result.stderr) (needs dbus-user-session for dbus.socket)")
        #expect(result.stderr.isEmpty, "verify warned: \(result.stderr)")
    }

    /// The control for the two tests above: the same check does catch a unit that systemd
    /// only warns about (an unknown key is a warning, exit status 0).
    @Test("an unknown key in a unit shows up on verify's stderr", .enabled(if: SystemdUnitTests.analyzer != nil, Comment(rawValue: SystemdUnitTests.missing)))
    func verifyReportsWarnings() throws {
        let tree = try InstallTree.make()
        defer { tree.remove() }
        try tree.install()
        let unit = tree.onDisk(tree.prefix + Self.systemUnit)
        let text = try String(contentsOfFile: unit, encoding: .utf8)
        try text.replacingOccurrences(of: "[Service]\n", with: "[Service]\nNiceness=10\n")
            .write(toFile: unit, atomically: true, encoding: .utf8)
        let result = try Self.analyze(["verify", unit], tree: tree)
        #expect(result.stderr.contains("Niceness"), "verify said nothing about an unknown key: '\(result.stderr)'")
    }

    /// Every exposure check `systemd-analyze security` fails for the system unit, each one a
    /// deliberate choice:
    /// - `SystemCallFilter=~@resources`: OpenBLAS and oneDNN call mbind/set_mempolicy, threads
    ///   set their priority (all measured with strace over full runs);
    /// - `MemoryDenyWriteExecute=`: oneDNN JIT-compiles its kernels (see the unit's comment);
    /// - `RestrictAddressFamilies=~AF_UNIX`: the D-Bus socket itself;
    /// - `RootDirectory=/RootImage=`: the service uses the host's libraries (GStreamer plugins);
    /// - `DeviceAllow=`: `ProtectClock=` itself adds read access to the RTC.
    static let acceptedExposures: Set<String> = [
        "SystemCallFilter=~@resources", "MemoryDenyWriteExecute=", "RestrictAddressFamilies=~AF_UNIX",
        "RootDirectory=/RootImage=", "DeviceAllow=",
    ]

    @Test("systemd-analyze security: the system unit is SAFE, failing only the accepted checks",
          .enabled(if: SystemdUnitTests.analyzer != nil, Comment(rawValue: SystemdUnitTests.missing)))
    func systemUnitExposure() throws {
        let tree = try InstallTree.make()
        defer { tree.remove() }
        try tree.install()
        let result = try Self.analyze(["security", "--offline=true", tree.onDisk(tree.prefix + Self.systemUnit)], tree: tree)
        #expect(result.status == 0, "security exited \(result.status): \(result.stderr)")
        #expect(result.stderr.isEmpty, "security warned: \(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        // A failed check starts with ✗ (or "-" where the locale has no UTF-8).
        let failed = Set(lines.filter { $0.hasPrefix("✗ ") || $0.hasPrefix("- ") }
            .compactMap { $0.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.map(String.init) })
        #expect(failed == Self.acceptedExposures,
                "newly failing: \(failed.subtracting(Self.acceptedExposures).sorted()), now passing: \(Self.acceptedExposures.subtracting(failed).sorted())")
        let overall = try #require(lines.first { $0.contains("Overall exposure level") }, "no overall line in: \(result.stdout)")
        let score = try #require(overall.split(separator: ":").last?.split(separator: " ").first.flatMap { Double($0) },
                                 "no score in '\(overall)'")
        // 0.3 today (systemd 252); SAFE is below 1.0.
        #expect(score < 1.0, "exposure \(score): \(overall)")
    }
}
