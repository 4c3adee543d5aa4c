import TensorStorage

/// What a file says about one tensor before any of its bytes are read.
public struct TensorInfo: Sendable, Equatable, Hashable, CustomStringConvertible {
    public let dtype: DType
    public let shape: [Int]

    public init(dtype: DType, shape: [Int]) {
        self.dtype = dtype
        self.shape = shape
    }

    /// Number of elements (1 for a 0-dim tensor). Readers only create infos whose byte size
    /// fits in the file, so this cannot overflow.
    public var elementCount: Int { shape.reduce(1, *) }
    /// Bytes of the contiguous tensor.
    public var byteCount: Int { elementCount * dtype.byteSize }

    public var description: String { "\(dtype.rawValue) \(Shape.describe(shape))" }
}
