import TensorCore
import TensorStorage

/// PyTorch `nn.MultiheadAttention` as OpenCLIP uses it (self-attention only): one packed
/// `in_proj_weight [3W, W]` / `in_proj_bias [3W]` whose rows 0..<W are q, W..<2W k and
/// 2W..<3W v, heads as consecutive chunks of W/heads channels, scores scaled by 1/√d_head, then
/// `out_proj`. The projection runs as one fused Linear and is split afterwards.
public struct CLIPMultiheadAttention: Sendable {
    public let width: Int
    public let heads: Int
    public let inProj: Linear
    public let outProj: Linear

    /// `parameters` scoped at the block's `attn`.
    public init(_ parameters: ParameterSource, width: Int, heads: Int, context: ComputeContext) throws {
        guard heads > 0, width % heads == 0 else {
            throw TensorError.invalidArgument("attention width \(width) does not split into \(heads) heads")
        }
        self.width = width
        self.heads = heads
        let w = try parameters.tensor("in_proj_weight", shape: [3 * width, width])
        let b = try parameters.tensor("in_proj_bias", shape: [3 * width])
        inProj = try Linear(weight: w, bias: b, context: context)
        outProj = try Linear(parameters.scoped("out_proj"), inFeatures: width, outFeatures: width, context: context)
    }

    /// Self-attention over `x [N, L, W]`; with `causal`, token i attends to tokens 0…i only.
    public func callAsFunction(_ x: Tensor, causal: Bool, context: ComputeContext) throws -> Tensor {
        let qkv = try inProj(x)
        let q = try qkv.sliced(along: 2, range: 0..<width)
        let k = try qkv.sliced(along: 2, range: width..<(2 * width))
        let v = try qkv.sliced(along: 2, range: (2 * width)..<(3 * width))
        let scale = 1 / Float(width / heads).squareRoot()
        let attended: Tensor
        if causal {
            attended = try CausalAttention.attend(q: q, k: k, v: v, heads: heads, scale: scale)
        } else {
            attended = try context.backend.attention(q: q, k: k, v: v, heads: heads, scale: scale,
                                                     precision: context.attentionPrecision)
        }
        return try outProj(attended)
    }
}

/// OpenCLIP's MLP: `c_proj(GELU(c_fc(x)))`, exact (erf) GELU.
public struct CLIPMLP: Sendable {
    public let fc: Linear
    public let proj: Linear

    /// `parameters` scoped at the block's `mlp`.
    public init(_ parameters: ParameterSource, width: Int, hidden: Int, context: ComputeContext) throws {
        fc = try Linear(parameters.scoped("c_fc"), inFeatures: width, outFeatures: hidden, context: context)
        proj = try Linear(parameters.scoped("c_proj"), inFeatures: hidden, outFeatures: width, context: context)
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        var h = try fc(x)
        Kernels.geluInPlace(&h)
        return try proj(h)
    }
}

/// OpenCLIP's `ResidualAttentionBlock` (no layer scale):
/// `x += attn(ln_1(x))`, `x += mlp(ln_2(x))`.
public struct CLIPResidualBlock: Sendable {
    public let ln1: LayerNorm
    public let attn: CLIPMultiheadAttention
    public let ln2: LayerNorm
    public let mlp: CLIPMLP

    /// `parameters` scoped at `transformer.resblocks.{i}`.
    public init(_ parameters: ParameterSource, width: Int, heads: Int, mlpWidth: Int,
                context: ComputeContext) throws {
        ln1 = try LayerNorm(parameters.scoped("ln_1"), width: width)
        attn = try CLIPMultiheadAttention(parameters.scoped("attn"), width: width, heads: heads, context: context)
        ln2 = try LayerNorm(parameters.scoped("ln_2"), width: width)
        mlp = try CLIPMLP(parameters.scoped("mlp"), width: width, hidden: mlpWidth, context: context)
    }

    /// `x [N, L, W]` → `[N, L, W]`.
    public func callAsFunction(_ x: Tensor, causal: Bool, context: ComputeContext) throws -> Tensor {
        var y = x
        try Kernels.addInPlace(&y, attn(ln1(y), causal: causal, context: context))
        try Kernels.addInPlace(&y, mlp(ln2(y)))
        return y
    }
}
