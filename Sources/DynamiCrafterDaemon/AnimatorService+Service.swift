import AnimationService
import DBusKit
import Logging
import ServiceLifecycle

/// The D-Bus face's part of the daemon's life: export the objects, own the bus name, and at
/// shutdown (the first of the long-lived services to stop) refuse new calls with ShuttingDown,
/// make the Animate calls still reading their images give up, and wait (a moment at most) until
/// each has been answered, before the engine fails its jobs and the connection closes.
extension AnimatorService: Service {
    func run() async throws {
        try await start()
        do {
            try await connection.requestName(AnimatorInterface.busName)
        } catch {
            logger.error("cannot own \(AnimatorInterface.busName): \(error)")
            throw error
        }
        logger.info("ready: \(AnimatorInterface.busName) as \(connection.uniqueName)")
        try? await gracefulShutdown()
        stopAccepting()
        engine.abandonReads()
        // Reads notice within 0.1 s; a decode already under way finishes first.
        let deadline = ContinuousClock.now + .seconds(Self.answerWait)
        while unansweredAnimateCalls > 0 && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        if unansweredAnimateCalls > 0 {
            logger.warning("\(unansweredAnimateCalls) Animate call(s) still unanswered after \(Int(Self.answerWait)) s; stopping anyway")
        }
    }

    /// The most a shutdown waits for Animate calls in flight to be answered.
    static let answerWait = 3.0
}
