import Synchronization

/// Reusable per-call buffers: scratchpads, bf16 copies of inputs, blocked-layout
/// activations.
///
/// Allocating them per call would hand each call fresh pages from the kernel (large blocks
/// are mmapped and unmapped by malloc), and the page faults of first touch cost more than a
/// small convolution. A buffer is used by one execution at a time: `borrow` removes it from
/// the pool and `giveBack` returns it.
final class OneDNNWorkspacePool: Sendable {
    private let idle = Mutex<[OneDNNAlignedBuffer]>([])
    /// Idle buffers kept; concurrent callers beyond that allocate and free their own.
    private let capacity: Int

    init(capacity: Int = 8) { self.capacity = capacity }

    /// A buffer of at least `byteCount` bytes: the smallest idle one that fits, else a new one.
    func borrow(_ byteCount: Int) -> OneDNNAlignedBuffer {
        let reused: OneDNNAlignedBuffer? = idle.withLock { pool in
            var best: Int? = nil
            for (i, b) in pool.enumerated() where b.byteCount >= byteCount {
                if best.map({ pool[$0].byteCount > b.byteCount }) ?? true { best = i }
            }
            return best.map { pool.remove(at: $0) }
        }
        return reused ?? OneDNNAlignedBuffer(byteCount: byteCount)
    }

    /// Returns a borrowed buffer; when the pool is full the smallest idle buffer is freed.
    func giveBack(_ buffer: OneDNNAlignedBuffer) {
        idle.withLock { pool in
            pool.append(buffer)
            if pool.count > capacity, let smallest = pool.indices.min(by: { pool[$0].byteCount < pool[$1].byteCount }) {
                pool.remove(at: smallest)
            }
        }
    }
}
