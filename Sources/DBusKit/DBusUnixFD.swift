#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// An owned Unix file descriptor travelling in a D-Bus message (type `h`).
///
/// The wrapper owns the descriptor: it is closed when the wrapper goes away or on `close()`,
/// unless someone took it with `take()`. Marshalling duplicates it (libdbus sends a dup), so
/// a value can be sent several times and still owns its original; descriptors read from a
/// message are fresh duplicates owned by the wrapper handed out.
public final class DBusUnixFD: Sendable, CustomStringConvertible {
    private let state: Mutex<Int32>

    /// Takes ownership of `descriptor` (which must be open).
    public init(taking descriptor: Int32) {
        state = Mutex(descriptor)
    }

    /// Duplicates `descriptor` (close-on-exec); the caller keeps its own.
    public convenience init(duplicating descriptor: Int32) throws(DBusError) {
        let copy = fcntl(descriptor, F_DUPFD_CLOEXEC, 0)
        guard copy >= 0 else {
            throw DBusError.invalidArgs("Cannot duplicate file descriptor \(descriptor): \(errnoDescription())")
        }
        self.init(taking: copy)
    }

    deinit {
        let fd = state.withLock { $0 }
        if fd >= 0 { systemClose(fd) }
    }

    /// The descriptor while it is still owned here, else nil. Do not close it yourself.
    public var rawValue: Int32? {
        state.withLock { $0 >= 0 ? $0 : nil }
    }

    /// Hands the descriptor over to the caller, who must close it; nil if already taken/closed.
    public func take() -> Int32? {
        state.withLock { fd in
            defer { fd = -1 }
            return fd >= 0 ? fd : nil
        }
    }

    /// Closes the descriptor now (idempotent).
    public func close() {
        if let fd = take() { systemClose(fd) }
    }

    /// Runs `body` with the descriptor while holding it, so a concurrent `close()` cannot
    /// invalidate it mid-use; nil if it was already taken or closed.
    public func withDescriptor<R>(_ body: (Int32) throws -> R) rethrows -> R? {
        try state.withLock { fd in fd >= 0 ? try body(fd) : nil }
    }

    public var description: String {
        rawValue.map { "fd \($0)" } ?? "fd (closed)"
    }
}

/// libc's close, reachable from inside types that have a `close()` of their own.
func systemClose(_ fd: Int32) {
    _ = close(fd)
}

func errnoDescription() -> String {
    String(cString: strerror(errno))
}
