import Foundation
import TestingSupport
#if canImport(Glibc)
import Glibc
#endif

/// A private bus (TestingSupport's `PrivateBus`) for one test. With a models directory it also
/// lists a service directory whose `org.dynamicrafter.Animator1.service` starts `dynamicrafterd`,
/// so the element's first call starts the daemon by D-Bus activation, as on a desktop (the
/// daemon serves the bus that activated it). Without one, the name is simply not provided (the
/// "daemon missing" case).
final class DaemonBus: @unchecked Sendable {
    static let serviceName = "org.dynamicrafter.Animator1"

    let directory: String
    private let bus: PrivateBus
    /// The address GStreamer processes get as their session bus.
    var address: String { bus.address }

    init(modelsDirectory: String? = nil, daemonArguments: [String] = []) throws {
        directory = try PluginEnvironment.temporaryDirectory("dynamicrafter-gst-bus")
        var serviceDirectories: [String] = []
        if let modelsDirectory {
            let services = directory + "/services"
            try FileManager.default.createDirectory(atPath: services, withIntermediateDirectories: true)
            // --idle-exit: should a test process die before its teardown, the daemon goes soon.
            let command = ([PluginEnvironment.daemonBinary, "--models-dir", modelsDirectory, "--idle-exit", "60"] + daemonArguments)
                .map(Self.quoteForExec).joined(separator: " ")
            try """
                [D-BUS Service]
                Name=\(Self.serviceName)
                Exec=\(command)

                """.write(toFile: services + "/\(Self.serviceName).service", atomically: true, encoding: .utf8)
            serviceDirectories.append(services)
        }
        do {
            bus = try PrivateBus(serviceDirectories: serviceDirectories)
        } catch {
            try? FileManager.default.removeItem(atPath: directory)
            throw error
        }
    }

    /// Runs `body` with a fresh bus, then stops the activated daemon and the bus.
    static func with<R>(modelsDirectory: String? = nil, daemonArguments: [String] = [],
                        _ body: (DaemonBus) async throws -> R) async throws -> R {
        let bus = try DaemonBus(modelsDirectory: modelsDirectory, daemonArguments: daemonArguments)
        do {
            let result = try await body(bus)
            await bus.stop()
            return result
        } catch {
            await bus.stop()
            throw error
        }
    }

    /// A `gdbus` call on this bus.
    func call(destination: String, path: String, method: String, _ arguments: [String]) async throws -> CommandResult {
        try await Command(
            PluginEnvironment.gdbus,
            ["call", "--address", address, "--dest", destination, "--object-path", path, "--method", method] + arguments,
            timeout: .seconds(10)
        ).runOnThread()
    }

    /// The process id of the daemon owning the service name, nil when none does.
    func daemonPID() async -> pid_t? {
        guard let result = try? await call(destination: "org.freedesktop.DBus", path: "/org/freedesktop/DBus",
                                           method: "org.freedesktop.DBus.GetConnectionUnixProcessID", [Self.serviceName]),
              result.status == 0 else { return nil }
        // "(uint32 1234,)"
        let digits = result.stdout.split(whereSeparator: { !$0.isNumber }).last.map(String.init)
        return digits.flatMap { pid_t($0) }
    }

    /// The daemon's State property (idle, loading, busy), nil when it is not on the bus.
    func daemonState() async -> String? {
        guard let result = try? await call(destination: Self.serviceName, path: "/org/dynamicrafter/Animator1",
                                           method: "org.freedesktop.DBus.Properties.Get",
                                           ["org.dynamicrafter.Animator1", "State"]),
              result.status == 0 else { return nil }
        // "(<'idle'>,)"
        return result.stdout.split(separator: "'").dropFirst().first.map(String.init)
    }

    /// Polls `daemonState` until it is `state`; returns the seconds it took, nil on timeout.
    func waitForDaemonState(_ state: String, timeout: Double) async -> Double? {
        let started = Date()
        while Date().timeIntervalSince(started) < timeout {
            if await daemonState() == state { return Date().timeIntervalSince(started) }
            try? await Task.sleep(nanoseconds: 20_000_000)
        }
        return nil
    }

    func stop() async {
        if let pid = await daemonPID() {
            kill(pid, SIGKILL)
        }
        bus.stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// dbus-daemon splits Exec lines like a shell: quote anything unusual.
    private static func quoteForExec(_ word: String) -> String {
        let plain = word.allSatisfy { $0.isLetter || $0.isNumber || "/._-=:,".contains($0) }
        return plain ? word : "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}

/// The 64×64 demo model, written once per test process into a models directory the
/// daemon discovers it in (as `demo`): plugins/build/test-models, rewritten on every run so
/// it always comes from the tool under test, and left in the (ignored) build folder
/// instead of littering the temporary directory.
actor DemoModels {
    static let shared = DemoModels()
    private var made: Task<String, any Error>?

    /// The models directory holding `demo/`.
    func directory() async throws -> String {
        let task = made ?? Task {
            let cli = PluginEnvironment.cliBinary
            guard FileManager.default.isExecutableFile(atPath: cli) else {
                throw PluginEnvironment.Missing(description: "no dynamicrafter binary at \(cli) (build it: swift build -c release --product dynamicrafter, or set DYNAMICRAFTER_BIN)")
            }
            guard FileManager.default.isExecutableFile(atPath: PluginEnvironment.daemonBinary) else {
                throw PluginEnvironment.Missing(description: "no dynamicrafterd binary at \(PluginEnvironment.daemonBinary) (build it: swift build -c release --product dynamicrafterd, or set DYNAMICRAFTERD_BIN)")
            }
            let models = PluginEnvironment.pluginDirectory + "/test-models"
            try? FileManager.default.removeItem(atPath: models)
            try FileManager.default.createDirectory(atPath: models, withIntermediateDirectories: true)
            let result = try await Command(cli, ["demo-model", models + "/demo", "--size", "64"], timeout: .seconds(120)).runOnThread()
            guard result.status == 0 else {
                throw PluginEnvironment.Missing(description: "dynamicrafter demo-model failed: \(result)")
            }
            return models
        }
        made = task
        return try await task.value
    }

    /// A models directory whose only model, `broken`, has the demo's configuration and a
    /// truncated checkpoint: the daemon lists it, and a job using it fails when it loads.
    func brokenDirectory() async throws -> String {
        let demo = try await directory() + "/demo"
        let models = PluginEnvironment.pluginDirectory + "/test-models-broken"
        try? FileManager.default.removeItem(atPath: models)
        try FileManager.default.createDirectory(atPath: models + "/broken", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: demo + "/config.json", toPath: models + "/broken/config.json")
        let weights = try Data(contentsOf: URL(fileURLWithPath: demo + "/model.safetensors"))
        try weights.prefix(weights.count / 2).write(to: URL(fileURLWithPath: models + "/broken/model.safetensors"))
        return models
    }
}
