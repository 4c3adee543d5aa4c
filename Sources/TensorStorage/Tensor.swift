/// Heap storage for float32 activations: 64-byte aligned so that vector loads never split
/// cache lines. Only `Tensor` touches it, and only after a uniqueness check for writes.
final class FloatBuffer: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Float>
    let count: Int

    init(count: Int) {
        let raw = ActivationMemory.allocate(byteCount: max(count, 1) * 4)
        pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        self.count = count
    }

    func copy() -> FloatBuffer {
        let b = FloatBuffer(count: count)
        b.pointer.update(from: pointer, count: count)
        return b
    }

    deinit { ActivationMemory.deallocate(UnsafeMutableRawPointer(pointer), byteCount: max(count, 1) * 4) }
}

/// A dense, row-major float32 tensor with value semantics (copy on write).
///
/// The shape is what the caller says it is: at the model's boundaries tensors follow the
/// reference layouts (N·C·H·W, N·C·T·H·W); inside, the model keeps activations channels-last
/// (N·H·W·C, which is also the layout of Linear layers) because that is what the backends run
/// fastest. `Layout` converts between the two.
public struct Tensor: Sendable {
    public private(set) var shape: [Int]
    var buffer: FloatBuffer

    /// A tensor of zeros. Shapes must have non-negative dimensions.
    public init(zeros shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        let n = shape.reduce(1, *)
        buffer = FloatBuffer(count: n)
        buffer.pointer.initialize(repeating: 0, count: max(n, 1))
        self.shape = shape
    }

    /// A tensor filled with `value`.
    public init(shape: [Int], repeating value: Float) {
        self.init(zeros: shape)
        buffer.pointer.update(repeating: value, count: count)
    }

    /// A tensor over the given values; throws when their count does not match the shape.
    public init(shape: [Int], scalars: [Float]) throws {
        guard let n = Shape.elementCount(shape), n == scalars.count else {
            throw TensorError.shapeMismatch("\(scalars.count) values for shape \(Shape.describe(shape))")
        }
        self.init(zeros: shape)
        scalars.withUnsafeBufferPointer { buffer.pointer.update(from: $0.baseAddress!, count: n) }
    }

    /// A tensor whose uninitialised storage `fill` writes completely.
    public init(shape: [Int], unsafeUninitialized fill: (UnsafeMutableBufferPointer<Float>) throws -> Void) rethrows {
        let n = shape.reduce(1, *)
        buffer = FloatBuffer(count: n)
        self.shape = shape
        try fill(UnsafeMutableBufferPointer(start: buffer.pointer, count: n))
    }

    public var count: Int { buffer.count }
    public var rank: Int { shape.count }
    public var scalars: [Float] { Array(UnsafeBufferPointer(start: buffer.pointer, count: count)) }

    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try body(UnsafeBufferPointer(start: buffer.pointer, count: count))
    }

    public mutating func withUnsafeMutableBufferPointer<R>(_ body: (UnsafeMutableBufferPointer<Float>) throws -> R) rethrows -> R {
        if !isKnownUniquelyReferenced(&buffer) { buffer = buffer.copy() }
        return try body(UnsafeMutableBufferPointer(start: buffer.pointer, count: count))
    }

    /// The same elements under another shape (no copy). One dimension may be -1.
    public func reshaped(_ newShape: [Int]) throws -> Tensor {
        var resolved = newShape
        if let i = newShape.firstIndex(of: -1) {
            let rest = newShape.enumerated().filter { $0.offset != i }.map(\.element).reduce(1, *)
            guard rest > 0, count % rest == 0 else {
                throw TensorError.shapeMismatch("cannot reshape \(Shape.describe(shape)) to \(Shape.describe(newShape))")
            }
            resolved[i] = count / rest
        }
        guard resolved.allSatisfy({ $0 >= 0 }), Shape.elementCount(resolved) == count else {
            throw TensorError.shapeMismatch("cannot reshape \(Shape.describe(shape)) to \(Shape.describe(newShape))")
        }
        var t = self
        t.shape = resolved
        return t
    }

    /// Element at a multi-index (slow; for tests and debugging).
    public subscript(_ index: Int...) -> Float {
        get { buffer.pointer[flatIndex(index)] }
        set {
            let i = flatIndex(index)
            withUnsafeMutableBufferPointer { $0[i] = newValue }
        }
    }

    private func flatIndex(_ index: [Int]) -> Int {
        precondition(index.count == shape.count, "index rank \(index.count) for shape \(shape)")
        var flat = 0
        for (i, d) in zip(index, shape) {
            precondition(i >= 0 && i < d, "index \(index) out of bounds for \(shape)")
            flat = flat * d + i
        }
        return flat
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let head = scalars.prefix(8).map { String($0) }.joined(separator: ", ")
        return "Tensor\(Shape.describe(shape))(\(head)\(count > 8 ? ", …" : ""))"
    }
}
