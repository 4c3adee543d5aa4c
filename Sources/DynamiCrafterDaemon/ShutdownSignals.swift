import Logging
import ServiceLifecycle
import UnixSignals
#if canImport(Glibc)
import Glibc
#endif

/// SIGTERM, SIGINT and SIGHUP start the graceful shutdown, read through swift-service-lifecycle's
/// signal sequence (libdispatch signal sources: on Linux they see a signal whether a thread
/// that blocks it leaves it to their signalfd or one that does not runs libdispatch's handler),
/// so a signal is only ever noticed on a queue. `prepare` blocks them in the main thread before
/// any other thread exists, so the threads started early inherit the block and a signal that
/// arrives while the daemon starts waits for the sources rather than killing it half-started.
/// A service of its own rather than the group's `gracefulShutdownSignals` so that the log says
/// which signal stopped the daemon (the group logs at debug level only). SIGPIPE is ignored:
/// a client that closes its end of an output pipe must fail its job, not kill the daemon.
struct ShutdownSignals: Service {
    static let termination: [UnixSignal] = [.sigterm, .sigint, .sighup]
    let logger: Logger

    static func prepare() {
        signal(SIGPIPE, SIG_IGN)
        var set = sigset_t()
        sigemptyset(&set)
        for number in [SIGTERM, SIGINT, SIGHUP] { sigaddset(&set, number) }
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    func run() async throws {
        let signals = await UnixSignalsSequence(trapping: Self.termination)
        for await signal in signals.cancelOnGracefulShutdown() {
            logger.info("stopping: received \(signal)")
            return
        }
    }
}
