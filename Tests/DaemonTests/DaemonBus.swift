import TestingSupport
import DBusKit
import Foundation
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A private bus whose service directory activates the real daemon on the first call to
/// org.dynamicrafter.Animator1, as a desktop session does; the daemon's standard error goes
/// to a log file the tests can show.
final class DaemonBus: Sendable {
    static let busName = "org.dynamicrafter.Animator1"
    static let managerPath = "/org/dynamicrafter/Animator1"
    static let jobRoot = "/org/dynamicrafter/Animator1/Job"
    static let managerInterface = "org.dynamicrafter.Animator1"
    static let jobInterface = "org.dynamicrafter.Animator1.Job"
    static let errorPrefix = "org.dynamicrafter.Animator1.Error."

    let bus: PrivateBus
    let directory: String
    let logPath: String

    /// `arguments` are added to the daemon's command line (after the test defaults);
    /// `environment` is added to the daemon's environment.
    init(arguments: [String] = [], modelsDirectory: String? = nil, environment: [String: String] = [:]) throws {
        let daemon = try Executables.daemon()
        let models = try modelsDirectory ?? Fixtures.modelsDirectory()
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("daemon-bus-\(UUID().uuidString)").path
        let services = directory + "/services"
        try FileManager.default.createDirectory(atPath: services, withIntermediateDirectories: true)
        logPath = directory + "/daemon.log"
        // A wrapper so the daemon's standard error lands in the log (dbus-daemon drops it).
        let settings = environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        let quoted = (["env"] + settings + [daemon, "--models-dir", models, "--idle-exit", "0", "--job-retention", "30", "--threads", "2"] + arguments)
            .map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(separator: " ")
        let wrapper = directory + "/run-daemon.sh"
        try "#!/bin/sh\nexec \(quoted) 2>>'\(logPath)'\n".write(toFile: wrapper, atomically: true, encoding: .utf8)
        chmod(wrapper, 0o755)
        try """
            [D-BUS Service]
            Name=\(Self.busName)
            Exec=\(wrapper)

            """.write(toFile: services + "/\(Self.busName).service", atomically: true, encoding: .utf8)
        bus = try PrivateBus(serviceDirectories: [services])
    }

    deinit { stop() }

    func connect() throws -> DBusConnection {
        try DBusConnection(.address(bus.address))
    }

    /// The daemon's process id, asked of the bus (activating the daemon if needed).
    func daemonPID(_ connection: DBusConnection) async throws -> pid_t {
        _ = try await connection.call(destination: Self.busName, path: Self.managerPath,
                                      interface: "org.freedesktop.DBus.Peer", member: "Ping")
        let reply = try await connection.call(
            destination: "org.freedesktop.DBus", path: "/org/freedesktop/DBus", interface: "org.freedesktop.DBus",
            member: "GetConnectionUnixProcessID", arguments: [.string(Self.busName)])
        return pid_t(try #require(reply.first?.uint32Value))
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Stops the bus (the daemon notices the lost connection and exits) and removes the files.
    func stop() {
        bus.stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Runs `body` with a fresh bus and a connection to it, stopping both afterwards; the
    /// daemon's log is attached to any failure.
    static func with<R>(arguments: [String] = [], modelsDirectory: String? = nil, environment: [String: String] = [:],
                        _ body: (DaemonBus, DBusConnection) async throws -> R) async throws -> R {
        let bus = try DaemonBus(arguments: arguments, modelsDirectory: modelsDirectory, environment: environment)
        let connection = try bus.connect()
        defer {
            connection.close()
            bus.stop()
        }
        do {
            return try await body(bus, connection)
        } catch {
            Issue.record("daemon log:\n\(bus.log)")
            throw error
        }
    }
}

/// Signals under the job objects (PropertiesChanged, Completed), recorded in arrival order.
final class JobSignals: Sendable {
    struct Entry: Sendable {
        let signal: DBusSignal
        let time: ContinuousClock.Instant
    }

    private let entries = Mutex<[Entry]>([])
    private let subscription: Mutex<DBusSubscription?> = Mutex(nil)

    /// Subscribes before any job is made, so no early update is missed.
    static func subscribe(_ connection: DBusConnection, pathNamespace: String = DaemonBus.jobRoot) async throws -> JobSignals {
        let signals = JobSignals()
        // Weak: the subscription belongs to the recorder, not the other way round (a handler
        // that owned its subscription would be released inside DBusKit's close()).
        let subscription = try await connection.subscribe(to: DBusMatchRule(pathNamespace: pathNamespace)) { [weak signals] signal in
            signals?.entries.withLock { $0.append(Entry(signal: signal, time: .now)) }
        }
        signals.subscription.withLock { $0 = subscription }
        return signals
    }

    var all: [Entry] { entries.withLock { $0 } }

    /// The PropertiesChanged dictionaries for one path, in order.
    func changes(of path: String) -> [[String: DBusValue]] {
        all.compactMap { entry in
            guard entry.signal.path == path, entry.signal.member == "PropertiesChanged",
                  entry.signal.arguments.count == 3 else { return nil }
            return entry.signal.arguments[1].vardictValue
        }
    }

    /// The values one property took, in order.
    func values(of property: String, at path: String) -> [DBusValue] {
        changes(of: path).compactMap { $0[property] }
    }

    struct Completion: Sendable {
        let success: Bool
        let errorName: String
        let message: String
        let time: ContinuousClock.Instant
    }

    func completion(of path: String) -> Completion? {
        for entry in all where entry.signal.path == path && entry.signal.member == "Completed" {
            let a = entry.signal.arguments
            guard a.count == 3, let success = a[0].boolValue, let name = a[1].stringValue, let message = a[2].stringValue else { continue }
            return Completion(success: success, errorName: name, message: message, time: entry.time)
        }
        return nil
    }

    /// Waits for the job's Completed signal.
    func waitForCompletion(of path: String, timeout: Duration = .seconds(120)) async throws -> Completion {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let done = completion(of: path) { return done }
            try await Task.sleep(for: .milliseconds(5))
        }
        return try #require(completion(of: path), "\(path) sent no Completed within \(timeout)")
    }

    /// Waits until `condition` holds for the recorded signals.
    func wait(timeout: Duration = .seconds(120), _ condition: (JobSignals) -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if condition(self) { return }
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(condition(self), "condition not met within \(timeout)")
    }
}

/// Calls on the daemon.
extension DBusConnection {
    func manager(_ member: String, _ arguments: [DBusValue] = [], timeout: Duration = .seconds(60)) async throws -> [DBusValue] {
        try await call(destination: DaemonBus.busName, path: DaemonBus.managerPath, interface: DaemonBus.managerInterface,
                       member: member, arguments: arguments, timeout: timeout)
    }

    func job(_ path: String, _ member: String, timeout: Duration = .seconds(60)) async throws -> [DBusValue] {
        try await call(destination: DaemonBus.busName, path: path, interface: DaemonBus.jobInterface, member: member, timeout: timeout)
    }

    /// Animate with the file at `imagePath` and `options`; returns the job path.
    func animate(imagePath: String, _ options: [String: DBusValue]) async throws -> String {
        let fd = open(imagePath, O_RDONLY | O_CLOEXEC)
        try #require(fd >= 0, "cannot open \(imagePath)")
        return try await animate(fd: DBusUnixFD(taking: fd), options)
    }

    func animate(fd: DBusUnixFD, _ options: [String: DBusValue]) async throws -> String {
        let reply = try await manager("Animate", [.unixFD(fd), .vardict(options)])
        return try #require(reply.first?.objectPathValue)
    }

    func managerProperty(_ name: String) async throws -> DBusValue {
        try await getProperty(destination: DaemonBus.busName, path: DaemonBus.managerPath, interface: DaemonBus.managerInterface, name: name)
    }
}

/// The D-Bus error `body` threw, or nil.
func dbusError(_ body: () async throws -> Void) async -> DBusError? {
    do {
        try await body()
        return nil
    } catch let error as DBusError {
        return error
    } catch {
        Issue.record("expected a D-Bus error, got \(error)")
        return nil
    }
}

/// Options for a small, quick job.
func quickJob(seed: UInt64 = 7, frames: UInt32 = 4, steps: UInt32 = 4) -> [String: DBusValue] {
    ["frames": .uint32(frames), "steps": .uint32(steps), "seed": .uint64(seed)]
}

/// Options for a job that runs long enough to be caught while running (then cancelled).
func longJob() -> [String: DBusValue] {
    ["frames": .uint32(16), "steps": .uint32(500)]
}

/// Descriptors for tests: memfds (as GStreamer clients pass raw frames), reads.
enum Descriptors {
    private typealias MemfdCreate = @convention(c) (UnsafePointer<CChar>, UInt32) -> Int32

    static func memfd(holding bytes: [UInt8]) throws -> DBusUnixFD {
        let symbol = try #require(dlsym(UnsafeMutableRawPointer(bitPattern: 0), "memfd_create"))
        let create = unsafeBitCast(symbol, to: MemfdCreate.self)
        let fd = create("test", 1) // MFD_CLOEXEC
        try #require(fd >= 0)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        try #require(written == bytes.count)
        return DBusUnixFD(taking: fd)
    }

    static func readAll(_ fd: Int32) -> [UInt8] {
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { return result }
            result.append(contentsOf: chunk[0..<count])
        }
    }

    /// Reads `fd` to its end on a thread of its own (closing it then); the returned function
    /// waits for the bytes.
    static func readInBackground(_ fd: Int32) -> @Sendable () -> [UInt8] {
        let result = Mutex<[UInt8]>([])
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            let bytes = readAll(fd)
            close(fd)
            result.withLock { $0 = bytes }
            done.signal()
        }
        return {
            done.wait()
            done.signal()
            return result.withLock { $0 }
        }
    }

    /// A new file, opened for writing.
    static func outputFile(_ path: String) throws -> DBusUnixFD {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        try #require(fd >= 0)
        return DBusUnixFD(taking: fd)
    }
}

/// ffprobe's decoded frame count and codec of a video file.
func probe(_ path: String) throws -> (frames: Int, codec: String) {
    let result = try Command("/usr/bin/ffprobe", [
        "-v", "error", "-count_frames", "-select_streams", "v:0",
        "-show_entries", "stream=nb_read_frames,codec_name", "-of", "default=noprint_wrappers=1", path,
    ]).run()
    var fields: [String: String] = [:]
    for line in result.stdout.split(separator: "\n") {
        let parts = line.split(separator: "=", maxSplits: 1).map(String.init)
        if parts.count == 2 { fields[parts[0]] = parts[1] }
    }
    return (Int(fields["nb_read_frames"] ?? "") ?? -1, fields["codec_name"] ?? "")
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}
