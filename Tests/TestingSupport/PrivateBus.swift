import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A private `dbus-daemon` for one test: started on a unix socket in a fresh temporary
/// directory with a permissive session-type policy, its address read from
/// `--print-address`, and terminated (and its directory removed) when the test is done.
/// The one bus the tests start: DBusKit's, the daemon's, the GStreamer element's and the
/// packaging tests' (which read the installed policy and activation files through it).
public final class PrivateBus: @unchecked Sendable {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        public init(description: String) { self.description = description }
    }

    static let daemonPath = "/usr/bin/dbus-daemon"

    /// The bus address clients connect to (`unix:path=…,guid=…`).
    public let address: String
    /// The temporary directory holding the socket and the configuration.
    public let directory: String
    private let daemon: RunningCommand
    private let lock = NSLock()
    private var stopped = false

    /// The permissive policy of a test session bus.
    public static let permissivePolicy = """
          <policy context="default">
            <allow send_destination="*" eavesdrop="true"/>
            <allow eavesdrop="true"/>
            <allow own="*"/>
          </policy>
        """

    /// Starts a bus. `serviceDirectories` become `<servicedir>` entries, for D-Bus activation;
    /// `policy` replaces the permissive default policy and `includes` are configuration files
    /// read after it (e.g. a service's system bus policy). `environment` is the bus's, which
    /// the services it activates inherit. A configuration the bus refuses throws `Failure`
    /// with what dbus-daemon said.
    public init(serviceDirectories: [String] = [], policy: String = PrivateBus.permissivePolicy, includes: [String] = [],
                environment: [String: String] = ProcessInfo.processInfo.environment,
                startupTimeout: Duration = .seconds(10)) throws {
        var template = Array((NSTemporaryDirectory() + "/dbuskit-bus-XXXXXX").utf8CString)
        guard let created = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw Failure(description: "mkdtemp failed: \(String(cString: strerror(errno)))")
        }
        directory = String(cString: created)
        let services = serviceDirectories.map { "  <servicedir>\(Self.escape($0))</servicedir>\n" }.joined()
        let included = includes.map { "  <include>\(Self.escape($0))</include>\n" }.joined()
        let configuration = """
            <!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
             "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
            <busconfig>
              <type>session</type>
              <listen>unix:dir=\(Self.escape(directory))</listen>
              <auth>EXTERNAL</auth>
              <!-- As in Debian's session.conf (the built-in default is 128). -->
              <limit name="max_replies_per_connection">50000</limit>
            \(services)\(policy)
            \(included)</busconfig>

            """
        let configPath = directory + "/bus.conf"
        do {
            try configuration.write(toFile: configPath, atomically: true, encoding: .utf8)
            daemon = try Command(Self.daemonPath, ["--config-file=\(configPath)", "--nofork", "--nopidfile", "--print-address=1"],
                                 environment: environment).start()
        } catch {
            try? FileManager.default.removeItem(atPath: directory)
            throw Failure(description: "cannot start \(Self.daemonPath): \(error)")
        }
        do {
            address = try Self.address(of: daemon, timeout: startupTimeout)
        } catch {
            daemon.signal(SIGKILL)
            _ = daemon.wait()
            try? FileManager.default.removeItem(atPath: directory)
            throw error
        }
    }

    deinit { stop() }

    /// Terminates the daemon and removes its directory (idempotent).
    public func stop() {
        lock.lock()
        defer { lock.unlock() }
        guard !stopped else { return }
        stopped = true
        daemon.stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Runs `body` with a fresh bus, stopping it afterwards whatever happens.
    public static func with<R>(_ body: (PrivateBus) async throws -> R) async throws -> R {
        let bus = try PrivateBus()
        defer { bus.stop() }
        return try await body(bus)
    }

    /// The environment for external tools (dbus-send, gdbus, busctl) to use this bus.
    public var environment: [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["DBUS_SESSION_BUS_ADDRESS"] = address
        return environment
    }

    /// Runs an external tool against this bus (as its session bus) to completion.
    public func run(_ tool: String, _ arguments: [String], timeout: Duration = .seconds(60)) throws -> CommandResult {
        try Command(tool, arguments, environment: environment, timeout: timeout).run()
    }

    /// The first line the daemon prints (`--print-address`), waiting at most `timeout`.
    private static func address(of daemon: RunningCommand, timeout: Duration) throws -> String {
        let deadline = ContinuousClock.now + timeout
        while true {
            let printed = daemon.stdout
            if let end = printed.firstIndex(of: "\n") {
                let line = String(printed[..<end])
                guard line.hasPrefix("unix:") else { throw Failure(description: "unexpected dbus-daemon address '\(line)'") }
                return line
            }
            guard daemon.isRunning else {
                throw Failure(description: "dbus-daemon exited before printing its address: \(daemon.wait().stderr)")
            }
            guard ContinuousClock.now < deadline else {
                throw Failure(description: "dbus-daemon printed no address within \(timeout): \(daemon.stderr)")
            }
            usleep(2_000)
        }
    }

    private static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
    }
}
