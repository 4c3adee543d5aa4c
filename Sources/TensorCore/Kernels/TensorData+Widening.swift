import TensorStorage

/// Widening lives with the kernels, not with the storage type: for large tensors it fans out
/// over `Parallel` workers, and storage (what `Weights` links) must not pull in the thread pool
/// and the compute libraries behind it.
extension TensorData {
    /// Writes the values as float32 into `destination` (`elementCount` floats): a plain copy
    /// for f32, vectorised widening for bf16 and f16.
    public func widen(into destination: UnsafeMutablePointer<Float>) {
        widen(elements: 0 ..< elementCount, into: destination)
    }

    /// `widen(into:)` for the flat elements `range` only (a block of rows, say).
    public func widen(elements range: Range<Int>, into destination: UnsafeMutablePointer<Float>) {
        let n = range.count
        guard n > 0, range.lowerBound >= 0, range.upperBound <= elementCount else { return }
        withUnsafeBytes { raw in
            let start = raw.baseAddress! + range.lowerBound * dtype.byteSize
            switch dtype {
            case .f32: UnsafeMutableRawPointer(destination).copyMemory(from: start, byteCount: n * 4)
            case .bf16: Widening.bf16ToF32(start, destination, count: n)
            case .f16: Widening.f16ToF32(start, destination, count: n)
            default:
                let t = toTensor()
                t.withUnsafeBufferPointer { destination.update(from: $0.baseAddress! + range.lowerBound, count: n) }
            }
        }
    }
}
