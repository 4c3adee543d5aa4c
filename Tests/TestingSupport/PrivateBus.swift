import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A private `dbus-daemon` for one test: started on a unix socket in a fresh temporary
/// directory with a permissive session-type policy, its address read from
/// `--print-address`, and terminated (and its directory removed) when the test is done.
/// Self-contained on purpose, so it can move to a shared test-support target unchanged.
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
    private let process: Process
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
    /// read after it (e.g. a service's system bus policy).
    public init(serviceDirectories: [String] = [], policy: String = PrivateBus.permissivePolicy, includes: [String] = [],
         startupTimeout: Double = 10) throws {
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
        try configuration.write(toFile: configPath, atomically: true, encoding: .utf8)

        process = Process()
        process.executableURL = URL(fileURLWithPath: Self.daemonPath)
        process.arguments = ["--config-file=\(configPath)", "--nofork", "--nopidfile", "--print-address=1"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            try? FileManager.default.removeItem(atPath: directory)
            throw Failure(description: "cannot start \(Self.daemonPath): \(error)")
        }
        do {
            address = try Self.readLine(from: output.fileHandleForReading.fileDescriptor, timeout: startupTimeout)
        } catch {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
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
        if process.isRunning {
            // SIGKILL, not terminate(): the daemon inherits the test runner's signal mask, in
            // which dispatch worker threads block SIGTERM, so a SIGTERM would stay pending.
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// The environment for external tools (dbus-send, gdbus, busctl) to use this bus.
    /// Runs `body` with a fresh bus, stopping it afterwards whatever happens.
    public static func with<R>(_ body: (PrivateBus) async throws -> R) async throws -> R {
        let bus = try PrivateBus()
        defer { bus.stop() }
        return try await body(bus)
    }

    public var environment: [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["DBUS_SESSION_BUS_ADDRESS"] = address
        return environment
    }

    /// Runs an external tool against this bus; returns its exit status and outputs.
    public func run(_ tool: String, _ arguments: [String]) throws -> (status: Int32, output: String, errors: String) {
        let child = Process()
        child.executableURL = URL(fileURLWithPath: tool)
        child.arguments = arguments
        child.environment = environment
        let output = Pipe(), errors = Pipe()
        child.standardOutput = output
        child.standardError = errors
        child.standardInput = FileHandle.nullDevice
        try child.run()
        // Drain stderr concurrently so neither pipe can fill up and stall the tool.
        let errorData = ThreadSafeData()
        let reader = Thread { errorData.set(errors.fileHandleForReading.readDataToEndOfFile()) }
        reader.start()
        let out = output.fileHandleForReading.readDataToEndOfFile()
        child.waitUntilExit()
        while !errorData.isSet { usleep(1000) }
        return (child.terminationStatus, String(decoding: out, as: UTF8.self), String(decoding: errorData.value, as: UTF8.self))
    }

    private final class ThreadSafeData: @unchecked Sendable {
        private let lock = NSLock()
        private var data: Data?
        func set(_ value: Data) { lock.lock(); data = value; lock.unlock() }
        var isSet: Bool { lock.lock(); defer { lock.unlock() }; return data != nil }
        var value: Data { lock.lock(); defer { lock.unlock() }; return data ?? Data() }
    }

    /// Reads one newline-terminated line, waiting at most `timeout` seconds in total.
    private static func readLine(from descriptor: Int32, timeout: Double) throws -> String {
        var bytes: [UInt8] = []
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let remaining = deadline.timeIntervalSinceNow
            guard remaining > 0 else { throw Failure(description: "dbus-daemon printed no address within \(timeout) s") }
            var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, Int32(remaining * 1000))
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0 else { continue }
            var byte: UInt8 = 0
            let count = read(descriptor, &byte, 1)
            if count < 0 && errno == EINTR { continue }
            guard count == 1 else { throw Failure(description: "dbus-daemon exited before printing its address") }
            if byte == UInt8(ascii: "\n") { break }
            bytes.append(byte)
        }
        let line = String(decoding: bytes, as: UTF8.self)
        guard line.hasPrefix("unix:") else { throw Failure(description: "unexpected dbus-daemon address '\(line)'") }
        return line
    }

    private static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
    }
}
