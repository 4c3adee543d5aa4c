import AnimationService
import Foundation
import Logging
import ServiceLifecycle

/// Ends the daemon once the engine has had nothing to do (no job queued, running or retained,
/// no model loading) for `limit` seconds: returning starts the group's graceful shutdown.
struct IdleExit: Service {
    let engine: JobEngine
    let limit: Double
    let logger: Logger

    func run() async throws {
        var idleSince: ContinuousClock.Instant?
        let period = Duration.seconds(min(1, limit / 2))
        while !Task.isShuttingDownGracefully {
            do {
                try await Task.sleep(for: period)
            } catch {
                return
            }
            let status = engine.status
            guard status.state == .idle && status.jobCount == 0 else {
                idleSince = nil
                continue
            }
            let since = idleSince ?? .now
            idleSince = since
            if since.duration(to: .now) >= .seconds(limit) {
                logger.info("stopping: idle for \(Int(limit)) s")
                return
            }
        }
    }
}
