import AnimationService
import Foundation
import Logging
import ServiceLifecycle

/// The job engine's part of the daemon's life: preloads the default model if asked, and at
/// shutdown fails the queued jobs with ShuttingDown and stops the running one, waiting at most
/// the grace time. Shut down after the D-Bus face has stopped accepting calls and before the
/// connection closes, so the jobs' last signals still reach the bus.
struct EngineService: Service {
    let engine: JobEngine
    let preload: Bool
    let grace: Double
    let logger: Logger

    func run() async throws {
        if preload { startPreload() }
        try? await gracefulShutdown()
        let engine = engine
        let grace = grace
        // `shutdown` blocks (up to the grace time) on the worker thread: wait on a thread of its
        // own, not on one of the cooperative pool's.
        let stopped = await withCheckedContinuation { (done: CheckedContinuation<Bool, Never>) in
            Thread.detachNewThread { done.resume(returning: engine.shutdown(grace: grace)) }
        }
        if !stopped {
            logger.warning("the running job did not stop within \(Int(grace)) s; exiting anyway")
        }
    }

    private func startPreload() {
        guard let name = engine.models().first(where: \.isDefault)?.entry.name else {
            logger.warning("--preload: there is no default model to load")
            return
        }
        let logger = logger
        engine.loadModel(named: name) { result in
            switch result {
            case .success: logger.info("model \(name) loaded")
            case .failure(let error): logger.warning("cannot preload model \(name): \(error.message)")
            }
        }
    }
}
