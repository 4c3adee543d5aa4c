/// Non-GEMM kernels shared by every backend: elementwise maps, norms, softmax, resampling,
/// layout changes. Each optimised kernel has a plain twin in `Kernels.Reference` that the
/// tests compare it with.
public enum Kernels {
    /// Rounds every element to the nearest bfloat16 (how the bf16 paths see their operands).
    public static func roundedToBF16(_ x: Tensor) -> Tensor {
        var y = x
        y.withUnsafeMutableBufferPointer { p in
            for i in p.indices { p[i] = HalfConversion.roundToBF16(p[i]) }
        }
        return y
    }
}
