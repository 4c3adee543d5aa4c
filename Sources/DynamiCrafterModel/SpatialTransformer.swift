import TensorCore
import TensorStorage

/// `SpatialTransformer` with `use_linear`, run frame by frame: `GN(eps 1e-6)` → `[N, H·W, C]` →
/// `proj_in` → transformer blocks (attn2 on the per-frame context) → `proj_out` → `+ input`.
public struct SpatialTransformer: Sendable {
    public let norm: GroupNorm
    public let projIn: Linear
    public let blocks: [BasicTransformerBlock]
    public let projOut: Linear

    public init(_ parameters: ParameterSource, channels: Int, heads: Int, headDim: Int, depth: Int = 1,
                contextDim: Int?, imageCrossAttention: Bool, learnableImageScale: Bool,
                context: ComputeContext) throws {
        let inner = heads * headDim
        norm = try GroupNorm(parameters.scoped("norm"), channels: channels, eps: 1e-6)
        projIn = try Linear(parameters.scoped("proj_in"), inFeatures: channels, outFeatures: inner, context: context)
        blocks = try (0 ..< depth).map {
            try BasicTransformerBlock(parameters.scoped("transformer_blocks.\($0)"), dim: inner, heads: heads,
                                      headDim: headDim, contextDim: contextDim,
                                      imageCrossAttention: imageCrossAttention,
                                      learnableImageScale: learnableImageScale, context: context)
        }
        projOut = try Linear(parameters.scoped("proj_out"), inFeatures: inner, outFeatures: channels, context: context)
    }

    /// `x` `[N, H, W, C]` (N = frames of all samples), `context` `[N, Lc, Cc]`.
    public func callAsFunction(_ x: Tensor, context: Tensor?) throws -> Tensor {
        let n = x.shape[0], c = x.shape[3], s = x.shape[1] * x.shape[2]
        var h = try norm.callAsFunction(x.reshaped([n, s, c]))
        h = try projIn.callAsFunction(h)
        for block in blocks { h = try block.callAsFunction(h, context: context) }
        h = try projOut.callAsFunction(h).reshaped(x.shape)
        try Kernels.addInPlace(&h, x)
        return h
    }
}
