import Testing
@testable import TensorCore
@testable import TensorStorage

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

    @Test("a request takes an idle block of a larger class (up to twice its size) before mapping a fresh one")
    func largerIdleBlockServesSmallerRequest() {
        ActivationMemory.releaseIdle()
        let big = 12 << 20, small = 7 << 20, tiny = 5 << 20
        let a = ActivationMemory.allocate(byteCount: big)
        ActivationMemory.deallocate(a, byteCount: big)
        let before = ActivationMemory.statistics
        let b = ActivationMemory.allocate(byteCount: small) // 12 MiB ≤ 2 × 7 MiB: reused
        #expect(b == a)
        #expect(ActivationMemory.statistics.freshBlocks == before.freshBlocks)
        #expect(ActivationMemory.statistics.idleBytes == before.idleBytes - ActivationMemory.blockSize(big))
        // Given back under its own size, the block returns whole (the pool knows its class).
        ActivationMemory.deallocate(b, byteCount: small)
        #expect(ActivationMemory.statistics.idleBytes == before.idleBytes)
        #expect(ActivationMemory.statistics.liveBytes == before.liveBytes)
        // More than twice the request: a fresh block instead.
        let c = ActivationMemory.allocate(byteCount: tiny)
        #expect(c != a)
        #expect(ActivationMemory.statistics.freshBlocks == before.freshBlocks + 1)
        ActivationMemory.deallocate(c, byteCount: tiny)
        ActivationMemory.releaseIdle()
        #expect(ActivationMemory.statistics.idleBytes == 0)
    }

    @Test("size classes: within 1/8 of a power of two, never smaller than the request")
    func sizeClasses() {
        for bytes in [1 << 20, (1 << 20) + 1, 3_000_000, 7 << 20, 84 << 20, (84 << 20) + 12345, 1 << 30] {
            let size = ActivationMemory.blockSize(bytes)
            #expect(size >= bytes && size % (64 << 10) == 0)
            #expect(Double(size) <= Double(bytes) * 1.125 + Double(64 << 10), "\(bytes) → \(size)")
        }
        // Near sizes share a class.
        #expect(ActivationMemory.blockSize(40_000_000) == ActivationMemory.blockSize(41_000_000))
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
