import Glibc
import Synchronization

/// A cap on the memory that image decodes running at once may hold. A small file can declare a
/// huge image (a 200 KB PNG of 64 megapixels costs ~400 MB while it decodes), so concurrent
/// decodes multiply that: each one reserves its estimate (`ImageHeader.decodeBytes`) first and
/// waits, first come first served, until it fits beside the others. One larger than the whole
/// capacity still runs, alone, so any image within the `ImageLimits` can be decoded.
public final class DecodeMemory: Sendable {
    /// Bytes all decodes in flight may reserve together.
    public let capacity: Int

    private struct State {
        var reserved = 0
        var running = 0
        var nextTicket: UInt64 = 0
        /// Waiting tickets, oldest first: only the oldest may be admitted.
        var waiting: [UInt64] = []
    }
    private let state = Mutex(State())

    public init(capacity: Int) {
        self.capacity = max(0, capacity)
    }

    /// For decodes without a budget of their own (the CLI, direct callers of `ImageDecoder`).
    public static let shared = DecodeMemory(capacity: 512 << 20)

    /// Bytes reserved now (for tests and diagnostics).
    public var reservedBytes: Int { state.withLock { $0.reserved } }

    /// Runs `body` once `bytes` fit, then frees them. Gives up with `.busy` after `timeout`
    /// seconds of waiting, or with `.cancelled` as soon as `giveUp` says so.
    public func withReservation<T>(_ bytes: Int, timeout: Double, giveUp: () -> Bool = { false },
                                   _ body: () throws(MediaError) -> T) throws(MediaError) -> T {
        let bytes = max(0, bytes)
        let ticket = state.withLock { state in
            defer { state.nextTicket += 1 }
            state.waiting.append(state.nextTicket)
            return state.nextTicket
        }
        let deadline = GStreamer.now() + UInt64(max(0, timeout) * 1e9)
        while true {
            let admitted = state.withLock { state in
                guard state.waiting.first == ticket,
                      state.running == 0 || state.reserved + bytes <= capacity else { return false }
                state.waiting.removeFirst()
                state.reserved += bytes
                state.running += 1
                return true
            }
            if admitted { break }
            if giveUp() {
                state.withLock { $0.waiting.removeAll { $0 == ticket } }
                throw MediaError(.cancelled, "gave up waiting to decode")
            }
            if GStreamer.now() > deadline {
                state.withLock { $0.waiting.removeAll { $0 == ticket } }
                throw MediaError(.busy, "other large images were being decoded for more than \(Int(timeout)) s; try again")
            }
            // Decodes take tens of milliseconds to seconds: polling costs nothing worth a condition.
            usleep(2_000)
        }
        defer {
            state.withLock { state in
                state.reserved -= bytes
                state.running -= 1
            }
        }
        return try body()
    }
}
