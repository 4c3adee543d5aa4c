import Dispatch
import Synchronization

/// A flag that can be claimed exactly once, from any thread.
final class OnceFlag: Sendable {
    private let taken = Atomic<Bool>(false)

    /// True for the first caller only.
    func claim() -> Bool {
        taken.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
    }
}

/// A result handed from the connection's queue to a thread blocked waiting for it.
final class BlockingOutcome: Sendable {
    private let result = Mutex<Result<[DBusValue], any Error>?>(nil)
    private let ready = DispatchSemaphore(value: 0)

    func set(_ value: Result<[DBusValue], any Error>) {
        result.withLock { $0 = value }
        ready.signal()
    }

    func wait() throws -> [DBusValue] {
        ready.wait()
        guard let value = result.withLock({ $0 }) else { throw DBusError.failed("No result") }
        return try value.get()
    }
}
