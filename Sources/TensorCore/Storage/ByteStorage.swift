#if canImport(Glibc)
import Glibc
#endif

/// Immutable bytes with an owner: a heap allocation, a memory-mapped file region, or a slice of
/// another storage. Weights are shared read-only between every model instance and thread, so
/// the type is `Sendable` by construction: nothing can write through it after creation.
public final class ByteStorage: @unchecked Sendable {
    public let bytes: UnsafeRawBufferPointer
    private let release: ((UnsafeRawBufferPointer) -> Void)?

    /// Wraps memory whose lifetime `release` ends (for example `munmap`).
    public init(bytes: UnsafeRawBufferPointer, release: ((UnsafeRawBufferPointer) -> Void)?) {
        self.bytes = bytes
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
        self.release = { _ in raw.deallocate() } // runs once, from deinit
    }

    /// Copies an array of bytes.
    public convenience init(_ array: [UInt8]) {
        self.init(count: array.count) { dst in
            array.withUnsafeBytes { src in dst.copyMemory(from: src) }
        }
    }

    public var count: Int { bytes.count }

    deinit { release?(bytes) }
}
