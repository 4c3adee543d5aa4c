import TensorCore
import TensorStorage

/// Deterministic pseudo-random numbers for test inputs (SplitMix64), shared by every test
/// target.
public struct TestRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [-1, 1): the top 24 bits as a fraction.
    public mutating func uniform() -> Float {
        Float(next() >> 40) / Float(1 << 23) - 1
    }

    /// A tensor of uniform values in [-scale, scale).
    public mutating func tensor(_ shape: [Int], scale: Float = 1) throws -> Tensor {
        let n = shape.reduce(1, *)
        var values = [Float](repeating: 0, count: n)
        for i in 0..<n { values[i] = uniform() * scale }
        return try Tensor(shape: shape, scalars: values)
    }

    /// Weights as a checkpoint of `dtype` stores them (rounded here, so every backend sees the
    /// same values).
    public mutating func weight(_ shape: [Int], scale: Float = 1, dtype: DType = .f32) throws -> TensorData {
        try TensorData(tensor(shape, scale: scale)).converted(to: dtype)
    }
}

/// max |a − b| / max |reference|: the error measure of the kernel and golden tests. A shape
/// mismatch is infinitely wrong and any NaN makes the result NaN, so a `<` check fails.
public func relativeError(_ a: Tensor, _ reference: Tensor) -> Float {
    guard a.shape == reference.shape else { return .infinity }
    var maxDiff: Float = 0, maxRef: Float = 0
    var sawNaN = false
    a.withUnsafeBufferPointer { pa in
        reference.withUnsafeBufferPointer { pb in
            for i in pa.indices {
                let d = abs(pa[i] - pb[i])
                if d.isNaN { sawNaN = true }
                maxDiff = max(maxDiff, d)
                maxRef = max(maxRef, abs(pb[i]))
            }
        }
    }
    if sawNaN { return .nan }
    return maxRef == 0 ? maxDiff : maxDiff / maxRef
}
