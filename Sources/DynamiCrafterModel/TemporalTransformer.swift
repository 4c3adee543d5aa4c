import TensorCore
import TensorStorage

/// `TemporalTransformer`: attention across the frames of every pixel. `GN(eps 1e-6)` with
/// statistics over all frames of a sample jointly → `[(b h w), t, C]` → `proj_in` → blocks
/// (attn1 and attn2 both self-attention, no positional encoding) → `proj_out` → back → `+ input`.
/// `proj_in/proj_out` are Linear (`use_linear`) or Conv1d k=1 (`init_attn`, weights `[out, in, 1]`),
/// which is the same map.
public struct TemporalTransformer: Sendable {
    public let norm: GroupNorm
    public let projIn: Linear
    public let blocks: [BasicTransformerBlock]
    public let projOut: Linear

    public init(_ parameters: ParameterSource, channels: Int, heads: Int, headDim: Int, depth: Int = 1,
                useLinear: Bool, context: ComputeContext) throws {
        let inner = heads * headDim
        norm = try GroupNorm(parameters.scoped("norm"), channels: channels, eps: 1e-6)
        func projection(_ name: String, _ inF: Int, _ outF: Int) throws -> Linear {
            if useLinear {
                return try Linear(parameters.scoped(name), inFeatures: inF, outFeatures: outF, context: context)
            }
            let p = parameters.scoped(name)
            let w = try p.tensor("weight", shape: [outF, inF, 1]).reshaped([outF, inF])
            let b = try p.tensor("bias", shape: [outF])
            return try Linear(weight: w, bias: b, context: context)
        }
        projIn = try projection("proj_in", channels, inner)
        blocks = try (0 ..< depth).map {
            try BasicTransformerBlock(parameters.scoped("transformer_blocks.\($0)"), dim: inner, heads: heads,
                                      headDim: headDim, contextDim: nil, context: context)
        }
        projOut = try projection("proj_out", inner, channels)
    }

    /// `x` `[B·T, H, W, C]` (frames of a sample consecutive), `batch` B.
    public func callAsFunction(_ x: Tensor, batch: Int) throws -> Tensor {
        let n = x.shape[0], c = x.shape[3], s = x.shape[1] * x.shape[2]
        let t = n / batch
        var h = try norm.callAsFunction(x.reshaped([batch, t * s, c]))
        h = try Layout.swapFramesAndPositions(h.reshaped([batch, t, s, c])).reshaped([batch * s, t, c])
        h = try projIn.callAsFunction(h)
        for block in blocks { h = try block.callAsFunction(h, context: nil) }
        h = try projOut.callAsFunction(h)
        h = try Layout.swapFramesAndPositions(h.reshaped([batch, s, t, c])).reshaped(x.shape)
        try Kernels.addInPlace(&h, x)
        return h
    }
}
