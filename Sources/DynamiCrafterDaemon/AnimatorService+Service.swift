import DBusKit
import Logging
import ServiceLifecycle

/// The D-Bus face's part of the daemon's life: export the objects, own the bus name, and at
/// shutdown (the first of the long-lived services to stop) refuse new calls with ShuttingDown
/// before the engine fails its jobs.
extension AnimatorService: Service {
    func run() async throws {
        try start()
        do {
            try await connection.requestName(AnimatorInterface.busName)
        } catch {
            logger.error("cannot own \(AnimatorInterface.busName): \(error)")
            throw error
        }
        logger.info("ready: \(AnimatorInterface.busName) as \(connection.uniqueName)")
        try? await gracefulShutdown()
        stopAccepting()
    }
}
