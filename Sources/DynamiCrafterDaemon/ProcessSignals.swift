import Dispatch
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Signal handling without signal handlers. SIGTERM, SIGINT and SIGHUP are blocked in every
/// thread (the mask is set before any thread starts, and threads inherit it) and read through
/// dispatch signal sources, which libdispatch implements with signalfd on Linux: the signal is
/// noticed on a queue, never interrupts the model's code, and works whatever mask the process
/// inherited from whoever started it. SIGPIPE is ignored: a client that closes its end of an
/// output pipe must fail its job, not kill the daemon.
enum ProcessSignals {
    static let termination: [Int32] = [SIGTERM, SIGINT, SIGHUP]

    static func prepare() {
        signal(SIGPIPE, SIG_IGN)
        var set = sigset_t()
        sigemptyset(&set)
        for number in termination { sigaddset(&set, number) }
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    /// Calls `handler` with the signal's name on `queue` whenever a termination signal arrives.
    static func observe(on queue: DispatchQueue, _ handler: @escaping @Sendable (String) -> Void) -> [any DispatchSourceSignal] {
        termination.map { number in
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            let name = number == SIGTERM ? "SIGTERM" : number == SIGINT ? "SIGINT" : "SIGHUP"
            source.setEventHandler { handler(name) }
            source.resume()
            return source
        }
    }
}
