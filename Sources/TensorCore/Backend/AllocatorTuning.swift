#if canImport(Glibc)
import Glibc
#endif

/// glibc serves every allocation over 32 MiB (its dynamic mmap threshold tops out there) with a
/// fresh mapping and unmaps it on free, so each large activation tensor costs page faults on
/// first touch: about a quarter of a large Linear's time. Raising the mmap and trim thresholds
/// keeps freed blocks in the heap for the next tensor of the same size. Executables call this
/// once at start; libraries don't change process-wide settings behind their caller's back.
public enum AllocatorTuning {
    private typealias MalloptFn = @convention(c) (Int32, Int32) -> Int32
    private static let mTrimThreshold: Int32 = -1
    private static let mMmapThreshold: Int32 = -3

    /// Keeps blocks up to `threshold` bytes (default 1 GiB) in the heap. Returns whether glibc
    /// accepted it (false on other C libraries).
    @discardableResult
    public static func keepLargeBlocks(threshold: Int32 = 1 << 30) -> Bool {
        // mallopt is not exported by Swift's Glibc module; look it up instead.
        guard let sym = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return false }
        let mallopt = unsafeBitCast(sym, to: MalloptFn.self)
        return mallopt(mMmapThreshold, threshold) == 1 && mallopt(mTrimThreshold, threshold) == 1
    }
}
