/// A stored tensor of any dtype: row-major, contiguous bytes inside a shared `ByteStorage`
/// (heap or memory-mapped). This is how weights arrive from files and how they are kept
/// resident; compute backends convert or pack them once at load.
public struct TensorData: Sendable {
    public let dtype: DType
    public let shape: [Int]
    public let storage: ByteStorage
    public let byteOffset: Int

    /// Wraps `storage[byteOffset ..< byteOffset + count·dtype.byteSize]` after checking it fits.
    public init(dtype: DType, shape: [Int], storage: ByteStorage, byteOffset: Int = 0) throws {
        guard let count = Shape.elementCount(shape) else {
            throw TensorError.invalidArgument("shape \(Shape.describe(shape)) has a negative or overflowing size")
        }
        let (bytes, o) = count.multipliedReportingOverflow(by: dtype.byteSize)
        guard !o, byteOffset >= 0, byteOffset <= storage.count, bytes <= storage.count - byteOffset else {
            throw TensorError.invalidArgument(
                "tensor \(dtype.rawValue) \(Shape.describe(shape)) at byte \(byteOffset) does not fit in \(storage.count) bytes")
        }
        self.dtype = dtype
        self.shape = shape
        self.storage = storage
        self.byteOffset = byteOffset
    }

    /// Copies a float32 tensor into new storage.
    public init(_ tensor: Tensor) {
        let storage = ByteStorage(count: tensor.count * 4) { dst in
            tensor.withUnsafeBufferPointer { src in dst.copyMemory(from: UnsafeRawBufferPointer(src)) }
        }
        // The byte count matches by construction.
        self.dtype = .f32
        self.shape = tensor.shape
        self.storage = storage
        self.byteOffset = 0
    }

    public var elementCount: Int { shape.reduce(1, *) }
    public var byteCount: Int { elementCount * dtype.byteSize }

    /// Calls `body` with the tensor's bytes, keeping the storage alive meanwhile. Prefer this to
    /// `bytes` whenever the `TensorData` is a temporary.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withExtendedLifetime(storage) { try body(bytes) }
    }

    /// The tensor's bytes. They stay valid only while this value (or another owner of its
    /// storage) is alive: don't take them from a temporary.
    public var bytes: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: storage.bytes[byteOffset ..< byteOffset + byteCount])
    }

    /// Drops this tensor's pages from resident memory when it views a mapped file (no-op
    /// otherwise). Call it once the bytes have been packed or used.
    public func releaseFilePages() {
        storage.releasePages(byteOffset ..< byteOffset + byteCount)
    }

    /// Whether the bytes are a view of a mapped file (as opposed to heap memory).
    public var isFileMapped: Bool { storage.isFileMapped }

    /// The same bytes under another shape with the same element count.
    public func reshaped(_ newShape: [Int]) throws -> TensorData {
        guard Shape.elementCount(newShape) == elementCount else {
            throw TensorError.shapeMismatch("cannot reshape \(Shape.describe(shape)) to \(Shape.describe(newShape))")
        }
        return try TensorData(dtype: dtype, shape: newShape, storage: storage, byteOffset: byteOffset)
    }

    /// Converts to a float32 `Tensor` (exact for f16/bf16; f64 rounds; integers convert).
    public func toTensor() -> Tensor {
        var out = Tensor(zeros: shape)
        let n = elementCount
        let raw = bytes
        out.withUnsafeMutableBufferPointer { dst in
            switch dtype {
            case .f32:
                UnsafeMutableRawBufferPointer(dst).copyMemory(from: raw)
            case .f16:
                for i in 0..<n { dst[i] = HalfConversion.float(fromF16: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
            case .bf16:
                for i in 0..<n { dst[i] = HalfConversion.float(fromBF16: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
            case .f64:
                for i in 0..<n { dst[i] = Float(raw.loadUnaligned(fromByteOffset: 8 * i, as: Double.self)) }
            case .i64:
                for i in 0..<n { dst[i] = Float(raw.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self)) }
            case .i32:
                for i in 0..<n { dst[i] = Float(raw.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self)) }
            case .i16:
                for i in 0..<n { dst[i] = Float(raw.loadUnaligned(fromByteOffset: 2 * i, as: Int16.self)) }
            case .i8:
                for i in 0..<n { dst[i] = Float(raw.load(fromByteOffset: i, as: Int8.self)) }
            case .u8, .bool:
                for i in 0..<n { dst[i] = Float(raw[i]) }
            }
        }
        return out
    }

    /// Converts floating-point data to another floating-point storage dtype (f32, f16, bf16),
    /// rounding to nearest even.
    public func converted(to target: DType) throws -> TensorData {
        if target == dtype { return self }
        guard dtype.isFloatingPoint, [.f32, .f16, .bf16].contains(target) else {
            throw TensorError.unsupportedDType(dtype, "cannot convert to \(target.rawValue)")
        }
        let floats = toTensor()
        let n = elementCount
        let storage = ByteStorage(count: n * target.byteSize) { dst in
            floats.withUnsafeBufferPointer { src in
                switch target {
                case .f32: dst.copyMemory(from: UnsafeRawBufferPointer(src))
                case .f16: for i in 0..<n { dst.storeBytes(of: HalfConversion.f16(from: src[i]), toByteOffset: 2 * i, as: UInt16.self) }
                default: for i in 0..<n { dst.storeBytes(of: HalfConversion.bf16(from: src[i]), toByteOffset: 2 * i, as: UInt16.self) }
                }
            }
        }
        return try TensorData(dtype: target, shape: shape, storage: storage)
    }
}
