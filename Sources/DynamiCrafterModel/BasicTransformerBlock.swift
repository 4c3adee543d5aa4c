import TensorCore
import TensorStorage

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
        // Each sub-layer's last projection adds into h as it writes (`h = f(h) + h`).
        var h = x
        try attn1.callAsFunction(norm1.callAsFunction(h), addingTo: &h)
        try attn2.callAsFunction(norm2.callAsFunction(h), context: context, addingTo: &h)
        try feedForward(addingTo: &h)
        return h
    }

    /// Rows the feed-forward takes at a time. Its intermediates are 8× (projection) and 4×
    /// (GEGLU) the block's width per row: for all rows at once that is 12 activations' worth
    /// (computed: 0.5 GB for the 256 model's batch-2 forward at 32×32, 4.5 GB for the 1024
    /// model's; not measured separately from the other memory changes), so
    /// the rows go through in chunks and only chunk-sized intermediates exist. Every op is per
    /// row, so the numbers do not change.
    static let feedForwardRows = 8192

    /// `h ← h + ff(norm3(h))`, a chunk of rows at a time. Every step is row-wise, so a chunk's
    /// update never feeds another chunk's input.
    func feedForward(addingTo h: inout Tensor) throws {
        let dim = ffOut.outFeatures
        let rows = h.count / max(dim, 1)
        guard rows > Self.feedForwardRows else {
            let normed = try norm3.callAsFunction(h)
            try ffOut.callAsFunction(Kernels.geglu(ffProj.callAsFunction(normed)), addingTo: &h)
            return
        }
        for start in stride(from: 0, to: rows, by: Self.feedForwardRows) {
            let end = min(rows, start + Self.feedForwardRows)
            let part = try h.reshaped([rows, dim]).sliced(along: 0, range: start ..< end)
            try ffOut.callAsFunction(Kernels.geglu(ffProj.callAsFunction(norm3.callAsFunction(part))),
                                     addingTo: &h, atRow: start)
        }
    }
}
