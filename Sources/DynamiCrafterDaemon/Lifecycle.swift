import TensorCore
import AnimationService
import DBusKit
import Dispatch
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Start-up, idle exit and the graceful shutdown of the daemon process.
final class Lifecycle: Sendable {
    private let service: AnimatorService
    private let settings: DaemonSettings
    private let queue = DispatchQueue(label: "dynamicrafterd.lifecycle")
    private let stopping = Atomic<Bool>(false)
    private let sources = SourceList()

    private init(service: AnimatorService, settings: DaemonSettings) {
        self.service = service
        self.settings = settings
    }

    /// Runs the daemon; returns only by exiting the process.
    static func run(_ settings: DaemonSettings, version: String) throws -> Never {
        Log.info("version \(version); serving \(settings.bus); models in \(settings.modelsDirectory)"
            + (settings.configFile.map { "; configuration \($0)" } ?? ""))
        let registry = ModelRegistry(directory: settings.modelsDirectory, defaultModel: settings.defaultModel)
        var configuration = EngineConfiguration(
            maxQueueLength: settings.queueLength, jobRetention: settings.jobRetention, threads: settings.threads,
            backend: settings.backend, temporaryDirectory: ProcessInfo.processInfo.environment["RUNTIME_DIRECTORY"])
        configuration.precision = settings.precision
        configuration.log = { Log.info($0) }
        let engine = try JobEngine(registry: registry, configuration: configuration)
        let models = engine.models()
        Log.info("\(models.count) model(s) installed\(models.isEmpty ? "" : ": " + models.map { $0.entry.name + ($0.isDefault ? " (default)" : "") }.joined(separator: ", ")); backend \(engine.backendName), \(settings.precision.rawValue); queue \(settings.queueLength); idle exit \(settings.idleExit == 0 ? "never" : "after \(Int(settings.idleExit)) s")")

        if models.isEmpty {
            Log.warning("no model found in \(settings.modelsDirectory): put a model folder there (for a try: dynamicrafter demo-model \(settings.modelsDirectory)/demo)")
        }
        let interfaces = try AnimatorInterface.load(path: settings.introspectionXML)
        let connection = try DBusConnection(settings.bus.connection)
        let service = AnimatorService(connection: connection, engine: engine, interfaces: interfaces, version: version)
        try service.start()
        let lifecycle = Lifecycle(service: service, settings: settings)
        connection.setDisconnectHandler { lifecycle.stop(reason: "the bus connection was lost", exitCode: 1) }
        lifecycle.sources.keep(ProcessSignals.observe(on: lifecycle.queue) { name in
            lifecycle.stop(reason: "received \(name)", exitCode: 0)
        })

        do {
            try blocking { try await connection.requestName(AnimatorInterface.busName) }
        } catch {
            Log.error("cannot own \(AnimatorInterface.busName) on \(settings.bus): \(error)")
            _exit(1)
        }
        Log.info("ready: \(AnimatorInterface.busName) as \(connection.uniqueName)")
        if settings.preload { lifecycle.preload() }
        if settings.idleExit > 0 { lifecycle.startIdleTimer() }
        while true { pause() }
    }

    private func preload() {
        guard let name = service.engine.models().first(where: \.isDefault)?.entry.name else {
            Log.warning("--preload: there is no default model to load")
            return
        }
        service.engine.loadModel(named: name) { result in
            switch result {
            case .success: Log.info("model \(name) loaded")
            case .failure(let error): Log.warning("cannot preload model \(name): \(error.message)")
            }
        }
    }

    /// Exits once the service has had nothing to do (no job queued, running or retained, no
    /// model loading) for `idleExit` seconds.
    private func startIdleTimer() {
        let timer = DispatchSource.makeTimerSource(queue: queue)
        let engine = service.engine
        let limit = settings.idleExit
        let idleSince = Mutex<Date?>(nil)
        timer.schedule(deadline: .now() + 1, repeating: min(1, limit / 2))
        timer.setEventHandler { [weak self] in
            let status = engine.status
            let idle = status.state == .idle && status.jobCount == 0
            let since: Date? = idleSince.withLock { since in
                since = idle ? (since ?? Date()) : nil
                return since
            }
            if let since, Date().timeIntervalSince(since) >= limit {
                self?.stop(reason: "idle for \(Int(limit)) s", exitCode: 0)
            }
        }
        timer.resume()
        sources.keep([timer])
    }

    /// The graceful shutdown: refuse new work, fail queued jobs, stop the running one (waiting
    /// at most the grace time), send the last signals, leave the bus, exit.
    func stop(reason: String, exitCode: Int32) {
        guard stopping.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else { return }
        Log.info("stopping: \(reason)")
        let grace = settings.shutdownGrace
        // Whatever happens below, the process is gone shortly after the grace time.
        DispatchQueue.global().asyncAfter(deadline: .now() + grace + 5) {
            Log.error("shutdown did not finish within \(Int(grace + 5)) s; exiting")
            _exit(exitCode == 0 ? 1 : exitCode)
        }
        service.stopAccepting()
        let service = service
        Thread.detachNewThread {
            let started = Date()
            if !service.engine.shutdown(grace: grace) {
                Log.warning("the running job did not stop within \(Int(grace)) s; exiting anyway")
            }
            let connection = service.connection
            if connection.isConnected {
                // A round trip to the bus: every signal sent before it has reached the bus.
                _ = try? blocking(timeout: 2) { try await connection.releaseName(AnimatorInterface.busName) }
            }
            connection.close()
            Log.info("stopped after \(String(format: "%.2f", Date().timeIntervalSince(started))) s")
            // _exit, not exit: a worker thread stuck in a model call must not race atexit handlers.
            _exit(exitCode)
        }
    }
}

/// Runs async work from synchronous code and waits for it (optionally with a deadline).
func blocking<T: Sendable>(timeout: Double? = nil, _ body: @escaping @Sendable () async throws -> T) throws -> T {
    let result = Mutex<Result<T, any Error>?>(nil)
    let done = DispatchSemaphore(value: 0)
    let task = Task {
        do {
            let value = try await body()
            result.withLock { $0 = .success(value) }
        } catch {
            result.withLock { $0 = .failure(error) }
        }
        done.signal()
    }
    if let timeout {
        if done.wait(timeout: .now() + timeout) == .timedOut {
            task.cancel()
            throw DBusError(name: DBusError.Name.timeout, message: "no answer within \(timeout) s")
        }
    } else {
        done.wait()
    }
    guard let value = result.withLock({ $0 }) else { throw DBusError(name: DBusError.Name.failed, message: "no result") }
    return try value.get()
}

/// Dispatch sources kept alive for the process's lifetime (libdispatch objects are thread-safe;
/// the list itself is only appended to, under its lock).
final class SourceList: @unchecked Sendable {
    private let lock = NSLock()
    private var sources: [any DispatchSourceProtocol] = []

    func keep(_ more: [any DispatchSourceProtocol]) {
        lock.lock()
        sources += more
        lock.unlock()
    }
}
