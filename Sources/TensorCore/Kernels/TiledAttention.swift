/// Scaled-dot-product attention shared by the backends, parameterised by their single-threaded
/// GEMM. (Placeholder body: delegates to the reference loops until the tiled kernel lands.)
public enum TiledAttention {
    public static func run(q: Tensor, k: Tensor, v: Tensor, heads: Int, scale: Float,
                           precision: Precision, gemm: GEMMKernel) throws -> Tensor {
        try ReferenceBackend().attention(q: q, k: k, v: v, heads: heads, scale: scale, precision: precision)
    }
}
