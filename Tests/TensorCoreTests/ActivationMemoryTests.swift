import Testing
import TensorCore

/// The pool of large blocks: a freed block serves the next request of its size, idle blocks
/// stay under the limit, and a repeated workload stops growing after its first round. (The pool
/// is process-wide: these tests assume no other test allocates meanwhile, as `scripts/test.sh`
/// runs them one at a time.)
@Suite("activation memory", .serialized)
struct ActivationMemoryTests {
    @Test("a freed block is reused for the same size; small requests go to malloc")
    func reuse() {
        ActivationMemory.releaseIdle()
        let size = 3 << 20
        let a = ActivationMemory.allocate(byteCount: size)
        a.storeBytes(of: 42, as: Int.self)
        let live = ActivationMemory.statistics.liveBytes
        #expect(live >= size)
        ActivationMemory.deallocate(a, byteCount: size)
        #expect(ActivationMemory.statistics.idleBytes >= size)
        let b = ActivationMemory.allocate(byteCount: size - 100) // rounds to the same block size
        #expect(b == a)
        ActivationMemory.deallocate(b, byteCount: size - 100)
        let before = ActivationMemory.statistics.liveBytes
        let small = ActivationMemory.allocate(byteCount: 4096)
        #expect(ActivationMemory.statistics.liveBytes == before, "small blocks are not pooled")
        ActivationMemory.deallocate(small, byteCount: 4096)
        ActivationMemory.releaseIdle()
        #expect(ActivationMemory.statistics.idleBytes == 0)
    }

    @Test("idle blocks never exceed the limit; repeating a workload does not grow the pool")
    func boundedAndStable() throws {
        ActivationMemory.releaseIdle()
        let baseline = ActivationMemory.statistics.liveBytes
        func round() throws {
            // Sizes like a network's activations: several distinct, some alive together.
            var alive: [Tensor] = []
            for i in 0..<40 {
                alive.append(Tensor(zeros: [256 + 16 * (i % 7), 1024]))
                if alive.count > 5 { alive.removeFirst(2) }
            }
        }
        try round()
        let first = ActivationMemory.statistics
        #expect(first.idleBytes <= ActivationMemory.idleLimit)
        #expect(first.liveBytes == baseline)
        for _ in 0..<3 { try round() }
        let later = ActivationMemory.statistics
        #expect(later.peakMappedBytes == first.peakMappedBytes, "\(first) → \(later)")
        #expect(later.idleBytes <= ActivationMemory.idleLimit)
        // A block larger than the limit is never kept.
        let huge = ActivationMemory.allocate(byteCount: ActivationMemory.idleLimit + (1 << 20))
        ActivationMemory.deallocate(huge, byteCount: ActivationMemory.idleLimit + (1 << 20))
        #expect(ActivationMemory.statistics.idleBytes <= ActivationMemory.idleLimit)
        ActivationMemory.releaseIdle()
    }
}
