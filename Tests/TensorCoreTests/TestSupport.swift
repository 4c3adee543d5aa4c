import TensorCore

/// Deterministic pseudo-random numbers for test inputs (SplitMix64).
struct TestRandom {
    private var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [-1, 1).
    mutating func uniform() -> Float {
        Float(next() >> 40) / Float(1 << 23) - 1
    }

    mutating func tensor(_ shape: [Int], scale: Float = 1) -> Tensor {
        let n = shape.reduce(1, *)
        var values = [Float](repeating: 0, count: n)
        for i in 0..<n { values[i] = uniform() * scale }
        // The count matches the shape by construction.
        return try! Tensor(shape: shape, scalars: values)
    }

    mutating func weight(_ shape: [Int], scale: Float = 1, dtype: DType = .f32) throws -> TensorData {
        try TensorData(tensor(shape, scale: scale)).converted(to: dtype)
    }
}

/// max |a − b| / max |b|: the error measure of the golden tests.
func relativeError(_ a: Tensor, _ b: Tensor) -> Float {
    precondition(a.shape == b.shape, "shapes \(a.shape) vs \(b.shape)")
    var maxDiff: Float = 0, maxRef: Float = 0
    a.withUnsafeBufferPointer { pa in
        b.withUnsafeBufferPointer { pb in
            for i in pa.indices {
                maxDiff = max(maxDiff, abs(pa[i] - pb[i]))
                maxRef = max(maxRef, abs(pb[i]))
            }
        }
    }
    return maxRef == 0 ? maxDiff : maxDiff / maxRef
}
