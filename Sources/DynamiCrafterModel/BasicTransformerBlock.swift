import TensorCore

/// `BasicTransformerBlock`: `x += attn1(norm1(x))`, `x += attn2(norm2(x), context)`,
/// `x += ff(norm3(x))` with a GEGLU feed-forward (`ff.net.0.proj` dim→8·dim, `ff.net.2` 4·dim→dim).
/// Without a context dimension attn2 is a second self-attention (temporal transformers).
public struct BasicTransformerBlock: Sendable {
    public let attn1: CrossAttention
    public let attn2: CrossAttention
    public let norm1: LayerNorm
    public let norm2: LayerNorm
    public let norm3: LayerNorm
    public let ffProj: Linear
    public let ffOut: Linear

    public init(_ parameters: ParameterSource, dim: Int, heads: Int, headDim: Int, contextDim: Int?,
                imageCrossAttention: Bool = false, learnableImageScale: Bool = false,
                context: ComputeContext) throws {
        attn1 = try CrossAttention(parameters.scoped("attn1"), queryDim: dim, contextDim: nil,
                                   heads: heads, headDim: headDim, context: context)
        attn2 = try CrossAttention(parameters.scoped("attn2"), queryDim: dim, contextDim: contextDim,
                                   heads: heads, headDim: headDim, imageCrossAttention: imageCrossAttention,
                                   learnableImageScale: learnableImageScale, context: context)
        norm1 = try LayerNorm(parameters.scoped("norm1"), width: dim)
        norm2 = try LayerNorm(parameters.scoped("norm2"), width: dim)
        norm3 = try LayerNorm(parameters.scoped("norm3"), width: dim)
        let inner = 4 * dim
        ffProj = try Linear(parameters.scoped("ff.net.0.proj"), inFeatures: dim, outFeatures: 2 * inner, context: context)
        ffOut = try Linear(parameters.scoped("ff.net.2"), inFeatures: inner, outFeatures: dim, context: context)
    }

    /// `x` `[N, L, dim]`; `context` `[N, Lc, contextDim]` for attn2 (nil: self-attention).
    public func callAsFunction(_ x: Tensor, context: Tensor?) throws -> Tensor {
        var h = x
        try Kernels.addInPlace(&h, attn1.callAsFunction(norm1.callAsFunction(h)))
        try Kernels.addInPlace(&h, attn2.callAsFunction(norm2.callAsFunction(h), context: context))
        let ff = try ffOut.callAsFunction(Kernels.geglu(ffProj.callAsFunction(norm3.callAsFunction(h))))
        try Kernels.addInPlace(&h, ff)
        return h
    }
}
