import TensorStorage

#if canImport(Glibc)
import Glibc
#endif

/// The sinusoidal embedding of diffusion timesteps and frame strides / fps.
extension Kernels {
    /// `[n, dim]` rows `[cos(u·f_0), …, cos(u·f_{half−1}), sin(u·f_0), …]` with
    /// `half = dim/2`, `f_i = exp(−ln(maxPeriod)·i/half)`; an odd `dim` gets a trailing zero.
    ///
    /// Every step is float32 in the reference's order: `Float(−ln maxPeriod)·i`, `/ half`, `exp`,
    /// `u·f`. A freq one ulp off, times u ≈ 1000, would move the argument by ~1e-4.
    public static func timestepEmbedding(_ values: [Float], dim: Int, maxPeriod: Float = 10_000) throws -> Tensor {
        guard dim > 0 else { throw TensorError.invalidArgument("timestepEmbedding: dim \(dim) must be positive") }
        guard maxPeriod > 0 else { throw TensorError.invalidArgument("timestepEmbedding: maxPeriod \(maxPeriod) must be positive") }
        let half = dim / 2
        let negLog = Float(-log(Double(maxPeriod)))
        var freqs = [Float](repeating: 0, count: half)
        for i in 0..<half { freqs[i] = expf(negLog * Float(i) / Float(half)) }
        var out = Tensor(zeros: [values.count, dim])
        out.withUnsafeMutableBufferPointer { p in
            for (row, u) in values.enumerated() {
                for i in 0..<half {
                    let arg = u * freqs[i]
                    p[row * dim + i] = cosf(arg)
                    p[row * dim + half + i] = sinf(arg)
                }
            }
        }
        return out
    }

    /// Integer timesteps (converted to float32 as `timesteps.float()` does).
    public static func timestepEmbedding(_ values: [Int], dim: Int, maxPeriod: Float = 10_000) throws -> Tensor {
        try timestepEmbedding(values.map { Float($0) }, dim: dim, maxPeriod: maxPeriod)
    }
}
