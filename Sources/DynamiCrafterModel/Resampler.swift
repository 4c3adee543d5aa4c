import TensorCore
import TensorStorage

/// DynamiCrafter's image-context Resampler (`image_proj_model`, a Perceiver resampler):
/// `x = proj_in(tokens)`; learned latents `[1, numQueries·videoLength, dim]`; per layer
/// `lat += PerceiverAttention(x, lat)`, `lat += FeedForward(lat)`; then
/// `norm_out(proj_out(lat))` → `[N, numQueries·videoLength, outputDim]`.
public struct Resampler: Sendable {
    public struct Configuration: Sendable, Hashable, Codable {
        public var dim: Int
        public var depth: Int
        public var dimHead: Int
        public var heads: Int
        public var numQueries: Int
        public var embeddingDim: Int
        public var outputDim: Int
        public var ffMult: Int
        public var videoLength: Int

        public init(dim: Int, depth: Int, dimHead: Int, heads: Int, numQueries: Int,
                    embeddingDim: Int, outputDim: Int, ffMult: Int = 4, videoLength: Int) {
            self.dim = dim; self.depth = depth; self.dimHead = dimHead; self.heads = heads
            self.numQueries = numQueries; self.embeddingDim = embeddingDim; self.outputDim = outputDim
            self.ffMult = ffMult; self.videoLength = videoLength
        }

        /// DynamiCrafter's real Resampler: dim 1024, depth 4, 12 heads × 64, 16 queries × 16
        /// frames, embedding 1280, output 1024.
        public static let dynamiCrafter = Configuration(dim: 1024, depth: 4, dimHead: 64, heads: 12, numQueries: 16,
                                                        embeddingDim: 1280, outputDim: 1024, ffMult: 4, videoLength: 16)

        /// Latent (output) tokens: `numQueries · videoLength`.
        public var latentCount: Int { numQueries * videoLength }
        public var innerDim: Int { heads * dimHead }
    }

    /// `PerceiverAttention`: `q = to_q(norm2(lat))`, `k, v = split(to_kv([norm1(x); norm2(lat)]))`,
    /// `to_out(softmax(q·kᵀ/√d)·v)`; no biases.
    public struct PerceiverAttention: Sendable {
        public let norm1: LayerNorm
        public let norm2: LayerNorm
        public let toQ: Linear
        public let toKV: Linear
        public let toOut: Linear
        public let heads: Int
        public let dimHead: Int

        public init(_ parameters: ParameterSource, dim: Int, dimHead: Int, heads: Int, context: ComputeContext) throws {
            let inner = dimHead * heads
            norm1 = try LayerNorm(parameters.scoped("norm1"), width: dim)
            norm2 = try LayerNorm(parameters.scoped("norm2"), width: dim)
            toQ = try Linear(parameters.scoped("to_q"), inFeatures: dim, outFeatures: inner, bias: false, context: context)
            toKV = try Linear(parameters.scoped("to_kv"), inFeatures: dim, outFeatures: 2 * inner, bias: false, context: context)
            toOut = try Linear(parameters.scoped("to_out"), inFeatures: inner, outFeatures: dim, bias: false, context: context)
            self.heads = heads
            self.dimHead = dimHead
        }

        /// `x [N, Lx, dim]` (image features), `latents [N, Lq, dim]` → `[N, Lq, dim]`.
        public func callAsFunction(_ x: Tensor, _ latents: Tensor, context: ComputeContext) throws -> Tensor {
            let xn = try norm1(x)
            let ln = try norm2(latents)
            let q = try toQ(ln)
            let kv = try toKV(Tensor.concatenated([xn, ln], along: 1))
            let inner = heads * dimHead
            let k = try kv.sliced(along: 2, range: 0..<inner)
            let v = try kv.sliced(along: 2, range: inner..<(2 * inner))
            // (q·d^−¼)(k·d^−¼)ᵀ = q·kᵀ/√d
            let out = try context.backend.attention(q: q, k: k, v: v, heads: heads,
                                                    scale: 1 / Float(dimHead).squareRoot(),
                                                    precision: context.attentionPrecision)
            return try toOut(out)
        }
    }

    /// `FeedForward`: LayerNorm → Linear(dim → mult·dim, no bias) → GELU → Linear(→ dim, no bias),
    /// keys `0` (norm), `1`, `3`.
    public struct FeedForward: Sendable {
        public let norm: LayerNorm
        public let fc: Linear
        public let proj: Linear

        public init(_ parameters: ParameterSource, dim: Int, mult: Int, context: ComputeContext) throws {
            norm = try LayerNorm(parameters.scoped("0"), width: dim)
            fc = try Linear(parameters.scoped("1"), inFeatures: dim, outFeatures: dim * mult, bias: false, context: context)
            proj = try Linear(parameters.scoped("3"), inFeatures: dim * mult, outFeatures: dim, bias: false, context: context)
        }

        public func callAsFunction(_ x: Tensor) throws -> Tensor {
            var h = try fc(norm(x))
            Kernels.geluInPlace(&h)
            return try proj(h)
        }
    }

    public let configuration: Configuration
    public let context: ComputeContext
    public let latents: Tensor
    public let projIn: Linear
    public let layers: [(attention: PerceiverAttention, feedForward: FeedForward)]
    public let projOut: Linear
    public let normOut: LayerNorm

    /// `parameters` scoped at `image_proj_model`.
    public init(parameters: ParameterSource, configuration: Configuration = .dynamiCrafter,
                context: ComputeContext) throws {
        let c = configuration
        guard c.dim > 0, c.heads > 0, c.dimHead > 0, c.depth >= 0, c.latentCount > 0 else {
            throw TensorError.invalidArgument("resampler: invalid configuration \(c)")
        }
        self.configuration = c
        self.context = context
        latents = try parameters.floats("latents", shape: [1, c.latentCount, c.dim])
        projIn = try Linear(parameters.scoped("proj_in"), inFeatures: c.embeddingDim, outFeatures: c.dim, context: context)
        let stack = parameters.scoped("layers")
        layers = try (0..<c.depth).map { i in
            let layer = stack.scoped(String(i))
            return (try PerceiverAttention(layer.scoped("0"), dim: c.dim, dimHead: c.dimHead, heads: c.heads, context: context),
                    try FeedForward(layer.scoped("1"), dim: c.dim, mult: c.ffMult, context: context))
        }
        projOut = try Linear(parameters.scoped("proj_out"), inFeatures: c.dim, outFeatures: c.outputDim, context: context)
        normOut = try LayerNorm(parameters.scoped("norm_out"), width: c.outputDim)
    }

    /// Image tokens `[N, L, embeddingDim]` (the ViT output) → `[N, latentCount, outputDim]`.
    /// `tap` sees "proj_in", "layer{i}.attn", "layer{i}.ff" (each before its residual add),
    /// "proj_out" and "out".
    public func callAsFunction(_ tokens: Tensor, tap: ((String, Tensor) -> Void)? = nil) throws -> Tensor {
        let c = configuration
        guard tokens.rank == 3, tokens.shape[2] == c.embeddingDim else {
            throw TensorError.shapeMismatch("resampler: expected [N, L, \(c.embeddingDim)], got \(Shape.describe(tokens.shape))")
        }
        let x = try projIn(tokens)
        tap?("proj_in", x)
        var lat = try latents.repeated(along: 0, count: tokens.shape[0])
        for (i, layer) in layers.enumerated() {
            let a = try layer.attention(x, lat, context: context)
            tap?("layer\(i).attn", a)
            try Kernels.addInPlace(&lat, a)
            let f = try layer.feedForward(lat)
            tap?("layer\(i).ff", f)
            try Kernels.addInPlace(&lat, f)
        }
        let projected = try projOut(lat)
        tap?("proj_out", projected)
        let out = try normOut(projected)
        tap?("out", out)
        return out
    }
}
