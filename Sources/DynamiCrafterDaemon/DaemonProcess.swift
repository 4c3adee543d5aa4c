import AnimationService
import DBusKit
import Dispatch
import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import TensorCore
#if canImport(Glibc)
import Glibc
#endif

/// Builds the daemon's parts and runs them as one `ServiceGroup`. Services start in this order
/// and stop gracefully in the reverse one:
///
/// 1. the bus connection (closed last, after every final signal is out),
/// 2. the job engine (queued jobs fail with ShuttingDown, the running one is stopped),
/// 3. the D-Bus face (stops accepting calls: the first thing a shutdown does),
/// 4. the idle exit, the shutdown deadline and the signal watch (what starts a shutdown).
enum DaemonProcess {
    /// Runs until a signal, the idle time or a lost bus ends it; returns the exit status.
    static func run(_ settings: DaemonSettings, version: String, logger: Logger) async throws -> Int32 {
        let configured = settings.configFile.map { "; configuration \($0)" } ?? ""
        logger.info("version \(version); serving \(settings.bus); models in \(settings.modelsDirectory)\(configured)")
        let registry = ModelRegistry(directory: settings.modelsDirectory, defaultModel: settings.defaultModel)
        var configuration = EngineConfiguration(
            maxQueueLength: settings.queueLength, jobRetention: settings.jobRetention, threads: settings.threads,
            backend: settings.backend, temporaryDirectory: ProcessInfo.processInfo.environment["RUNTIME_DIRECTORY"])
        configuration.precision = settings.precision
        configuration.logger = logger
        let engine = try JobEngine(registry: registry, configuration: configuration)
        let models = engine.models()
        logger.info("\(models.count) model(s) installed\(models.isEmpty ? "" : ": " + models.map { $0.entry.name + ($0.isDefault ? " (default)" : "") }.joined(separator: ", ")); backend \(engine.backendName), \(settings.precision.rawValue); queue \(settings.queueLength); idle exit \(settings.idleExit == 0 ? "never" : "after \(Int(settings.idleExit)) s")")
        if models.isEmpty {
            logger.warning("no model found in \(settings.modelsDirectory): put a model folder there (for a try: dynamicrafter demo-model \(settings.modelsDirectory)/demo)")
        }
        let interfaces = try AnimatorInterface.load(path: settings.introspectionXML)
        let connection = try DBusConnection(settings.bus.connection)
        let animator = AnimatorService(connection: connection, engine: engine, interfaces: interfaces, version: version, logger: logger)
        let deadline = ShutdownDeadline(grace: settings.shutdownGrace, logger: logger)

        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: BusConnectionService(connection: connection, logger: logger),
                  successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup),
            .init(service: EngineService(engine: engine, preload: settings.preload, grace: settings.shutdownGrace, logger: logger)),
            .init(service: animator, failureTerminationBehavior: .gracefullyShutdownGroup),
        ]
        if settings.idleExit > 0 {
            services.append(.init(service: IdleExit(engine: engine, limit: settings.idleExit, logger: logger),
                                  successTerminationBehavior: .gracefullyShutdownGroup))
        }
        services.append(.init(service: deadline))
        services.append(.init(service: ShutdownSignals(logger: logger), successTerminationBehavior: .gracefullyShutdownGroup))
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(services: services, logger: logger))

        var status: Int32 = 0
        do {
            try await group.run()
        } catch {
            status = 1
        }
        logger.info("stopped after \(String(format: "%.2f", deadline.elapsed)) s")
        return status
    }
}

/// Arms the hard deadline when a shutdown starts: whatever happens after it (a job stuck in a
/// model call, a bus that stopped answering), the process is gone `grace + 5` seconds later.
final class ShutdownDeadline: Service, Sendable {
    private let grace: Double
    private let logger: Logger
    private let started = Mutex<ContinuousClock.Instant?>(nil)

    init(grace: Double, logger: Logger) {
        self.grace = grace
        self.logger = logger
    }

    /// Seconds since the shutdown started (0 before).
    var elapsed: Double {
        guard let started = started.withLock({ $0 }) else { return 0 }
        let duration = started.duration(to: .now)
        return Double(duration.components.seconds) + Double(duration.components.attoseconds) * 1e-18
    }

    func run() async throws {
        try? await gracefulShutdown()
        started.withLock { $0 = .now }
        let limit = grace + 5
        let logger = logger
        DispatchQueue.global().asyncAfter(deadline: .now() + limit) {
            logger.error("shutdown did not finish within \(Int(limit)) s; exiting")
            _exit(1)
        }
    }
}
