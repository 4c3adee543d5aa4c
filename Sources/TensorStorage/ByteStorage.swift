#if canImport(Glibc)
import Glibc
#endif

/// Immutable bytes with an owner: a heap allocation, a memory-mapped file region, or a slice of
/// another storage. Weights are shared read-only between every model instance and thread, so
/// the type is `Sendable` by construction: nothing can write through it after creation.
public final class ByteStorage: @unchecked Sendable {
    public let bytes: UnsafeRawBufferPointer
    private let release: ((UnsafeRawBufferPointer) -> Void)?
    /// Whether the bytes are a read-only mapping of a file: their pages can be dropped from
    /// this process (`releasePages`) and are read back from the page cache when touched again.
    public let isFileMapped: Bool

    /// Wraps memory whose lifetime `release` ends (for example `munmap`). `fileMapped` marks a
    /// private read-only file mapping, whose pages `releasePages` may drop.
    public init(bytes: UnsafeRawBufferPointer, fileMapped: Bool = false,
                release: ((UnsafeRawBufferPointer) -> Void)?) {
        self.bytes = bytes
        self.isFileMapped = fileMapped
        self.release = release
    }

    /// Copies `count` bytes produced by `fill` into a new 64-byte aligned allocation.
    public init(count: Int, fill: (UnsafeMutableRawBufferPointer) throws -> Void) rethrows {
        let raw = UnsafeMutableRawBufferPointer.allocate(byteCount: max(count, 1), alignment: 64)
        do {
            try fill(UnsafeMutableRawBufferPointer(rebasing: raw[0..<count]))
        } catch {
            raw.deallocate()
            throw error
        }
        self.bytes = UnsafeRawBufferPointer(rebasing: raw[0..<count])
        self.isFileMapped = false
        self.release = { _ in raw.deallocate() } // runs once, from deinit
    }

    /// Copies an array of bytes.
    public convenience init(_ array: [UInt8]) {
        self.init(count: array.count) { dst in
            array.withUnsafeBytes { src in dst.copyMemory(from: src) }
        }
    }

    public var count: Int { bytes.count }

    /// Drops the whole pages inside `range` from this process's resident memory when the
    /// storage maps a file (a no-op for heap storage, whose contents would be lost). Weights
    /// are read from the mapping once, when they are packed, or once per job (encoders run
    /// from the mapping): afterwards their pages only add to the resident size, and the
    /// kernel's page cache, not this process, is the right owner of a second copy.
    public func releasePages(_ range: Range<Int>) {
        guard isFileMapped, let base = bytes.baseAddress, !range.isEmpty else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = UInt(bitPattern: base) + UInt(max(range.lowerBound, 0))
        let end = UInt(bitPattern: base) + UInt(min(range.upperBound, count))
        let first = (start + UInt(page) - 1) / UInt(page) * UInt(page)
        let last = end / UInt(page) * UInt(page)
        guard last > first, let p = UnsafeMutableRawPointer(bitPattern: first) else { return }
        _ = madvise(p, Int(last - first), MADV_DONTNEED)
    }

    /// Drops every page of a file mapping (see `releasePages(_:)`).
    public func releaseAllPages() { releasePages(0..<count) }

    deinit { release?(bytes) }
}
