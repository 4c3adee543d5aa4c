#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Where large tensors and backend buffers live: blocks of their own (`mmap`), kept after use
/// for the next allocation of the same size, up to `idleLimit` bytes.
///
/// A UNet step allocates and frees the same few hundred sizes in the same order every time.
/// Through malloc those blocks fragment its heaps: measured on the 256 model (glibc
/// `malloc_stats`), the arenas held 2.4 GiB of free memory after one forward; with this pool the
/// forward's peak over the weights fell from 2.7 to 0.9 GiB, and the 512 model's bf16 run from
/// 8.4 to 5.8 GiB. Here a freed block either waits, whole,
/// for the next request of its size (no page faults: the reason malloc was told to keep large
/// blocks) or is unmapped at once, so resident memory is what is live plus at most `idleLimit`,
/// and a run's memory stops growing after its first step.
public enum ActivationMemory {
    /// Blocks below this go to malloc (small, short-lived, many).
    public static let minimumBytes = 1 << 20
    /// Idle bytes kept for reuse; beyond it, freed blocks are unmapped.
    public static let idleLimit = 512 << 20
    /// Sizes are rounded up to this (a multiple of the page size), so that near sizes share blocks.
    static let granule = 64 << 10
    /// Size classes per doubling above `minimumBytes`: a block serves every request within
    /// 1/8 of its size, and an idle block of up to twice the request is taken before a fresh one
    /// is mapped (its pages are resident already; a fresh block's untouched tail costs nothing).
    /// A fresh block costs a page fault and the kernel's zeroing per page on first touch: with
    /// exact sizes, one 256 UNet forward mapped 601 blocks (19.3 GiB) afresh against 482 reuses,
    /// and 13 % of its CPU time went to the kernel (perf, Zen 3); with classes, larger-block reuse
    /// and huge pages, two forwards mapped 200 (7.0 GiB, mostly in the first) against 1,960 reuses.
    static let classesPerDoubling = 8
    /// x86-64's transparent huge page.
    static let hugePageBytes = 2 << 20

    private struct State {
        var idle: [Int: [UInt]] = [:]
        /// Size of each block in use (a request may get a block of a larger class).
        var liveSizes: [UInt: Int] = [:]
        var idleBytes = 0
        var liveBytes = 0
        var peakLiveBytes = 0
        var mappedBytes = 0
        var peakMappedBytes = 0
        var freshBlocks = 0
        var freshBytes = 0
        var reusedBlocks = 0
    }

    private static let state = Mutex(State())

    /// What the pool holds now, for tests and reports.
    public struct Statistics: Sendable, Equatable {
        /// Bytes of blocks in use.
        public var liveBytes: Int
        /// Bytes of blocks waiting for reuse.
        public var idleBytes: Int
        /// Highest `liveBytes + idleBytes` so far (what the pool added to the resident size).
        public var peakMappedBytes: Int
        /// Highest `liveBytes` so far.
        public var peakLiveBytes: Int
        /// Blocks mapped afresh (each page of them zeroed by the kernel on first touch) and their
        /// bytes, and requests served by an idle block, since the process started.
        public var freshBlocks: Int
        public var freshBytes: Int
        public var reusedBlocks: Int
    }

    public static var statistics: Statistics {
        state.withLock { Statistics(liveBytes: $0.liveBytes, idleBytes: $0.idleBytes,
                                    peakMappedBytes: $0.peakMappedBytes, peakLiveBytes: $0.peakLiveBytes,
                                    freshBlocks: $0.freshBlocks, freshBytes: $0.freshBytes,
                                    reusedBlocks: $0.reusedBlocks) }
    }

    /// Restarts the peaks from the current figures (a stage's own peak can be read after it).
    public static func resetPeaks() {
        state.withLock { s in
            s.peakLiveBytes = s.liveBytes
            s.peakMappedBytes = s.mappedBytes
        }
    }

    /// The size a request of `byteCount` bytes occupies: its size class, a multiple of the granule.
    static func blockSize(_ byteCount: Int) -> Int {
        let rounded = (byteCount + granule - 1) / granule * granule
        // The class boundaries of this doubling are octave + k·octave/8 (k = 1 … 8).
        let octave = 1 << (Int.bitWidth - 1 - rounded.leadingZeroBitCount)
        let step = max(granule, octave / classesPerDoubling)
        return (rounded + step - 1) / step * step
    }

    /// `byteCount` bytes aligned to at least 64; uninitialised (a reused block holds old data).
    public static func allocate(byteCount: Int) -> UnsafeMutableRawPointer {
        guard byteCount >= minimumBytes else {
            return UnsafeMutableRawPointer.allocate(byteCount: max(byteCount, 1), alignment: 64)
        }
        let size = blockSize(byteCount)
        let reused: UInt? = state.withLock { s in
            // The smallest idle block of this class or up to twice its size: its pages are
            // resident already, so taking it adds nothing, where a fresh block adds page
            // faults and zeroing.
            var candidate = size
            while candidate <= 2 * size {
                if let block = s.idle[candidate]?.popLast() {
                    s.idleBytes -= candidate
                    s.liveBytes += candidate
                    s.liveSizes[block] = candidate
                    s.peakLiveBytes = max(s.peakLiveBytes, s.liveBytes)
                    s.reusedBlocks += 1
                    return block
                }
                candidate = blockSize(candidate + 1)
            }
            return nil
        }
        if let reused, let pointer = UnsafeMutableRawPointer(bitPattern: reused) { return pointer }
        var mapped = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        if mapped == MAP_FAILED {
            releaseIdle()
            mapped = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        }
        // As with malloc, running out of address space is fatal (the memory budget refuses
        // jobs long before that).
        guard let mapped, mapped != MAP_FAILED else { preconditionFailure("cannot map \(size) bytes") }
        // Transparent huge pages where the system offers them on request (Debian's default is
        // `madvise`): one fault and one zeroing per 2 MiB instead of per 4 KiB page. Blocks are
        // written from their start, so an untouched tail costs at most part of one huge page.
        if size >= hugePageBytes { _ = madvise(mapped, size, MADV_HUGEPAGE) }
        state.withLock { s in
            s.liveBytes += size
            s.liveSizes[UInt(bitPattern: mapped)] = size
            s.mappedBytes += size
            s.freshBlocks += 1
            s.freshBytes += size
            s.peakLiveBytes = max(s.peakLiveBytes, s.liveBytes)
            s.peakMappedBytes = max(s.peakMappedBytes, s.mappedBytes)
        }
        return mapped
    }

    /// Unmaps every idle block.
    public static func releaseIdle() {
        let blocks: [(UInt, Int)] = state.withLock { s in
            let all = s.idle.flatMap { size, list in list.map { ($0, size) } }
            s.idle = [:]
            s.mappedBytes -= s.idleBytes
            s.idleBytes = 0
            return all
        }
        for (address, size) in blocks { munmap(UnsafeMutableRawPointer(bitPattern: address), size) }
    }

    /// Gives back a block from `allocate(byteCount:)` with the same `byteCount`.
    public static func deallocate(_ pointer: UnsafeMutableRawPointer, byteCount: Int) {
        guard byteCount >= minimumBytes else {
            pointer.deallocate()
            return
        }
        let address = UInt(bitPattern: pointer)
        let (size, kept): (Int, Bool) = state.withLock { s in
            let size = s.liveSizes.removeValue(forKey: address) ?? blockSize(byteCount)
            s.liveBytes -= size
            guard s.idleBytes + size <= idleLimit else {
                s.mappedBytes -= size
                return (size, false)
            }
            s.idle[size, default: []].append(address)
            s.idleBytes += size
            return (size, true)
        }
        if !kept { munmap(pointer, size) }
    }
}
