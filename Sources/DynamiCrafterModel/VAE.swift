import Foundation
import TensorCore
import TensorStorage

/// The VAE of DynamiCrafter (`AutoencoderKL`, `lvdm/models/autoencoder.py` with the Encoder and
/// Decoder of `lvdm/modules/networks/ae_modules.py`): frames `[N, 3, H, W]` in [-1, 1] ⇄ latents
/// `[N, z, H/f, W/f]` with `f = 2^(levels−1)` (8 for the real model).
///
/// Public tensors are NCHW like the reference; everything inside runs channels-last `[N, H, W, C]`.
/// Weights are packed once at load; the value is immutable and `Sendable`.
///
/// Latent scaling: `sample` returns the *scaled* latent `0.18215·(mean + std·ε)` that the
/// diffusion model works on, and `decode(scaledLatent:)` takes that scaled latent and divides by
/// `scaleFactor` itself (the reference's `decode_first_stage`). `decode(unscaledLatent:)` skips
/// the division (the bare `AutoencoderKL.decode`).
public struct VAE: Sendable {
    /// The architecture (`ddconfig` plus `embed_dim`).
    public struct Configuration: Sendable, Equatable {
        public var inChannels: Int
        public var outChannels: Int
        public var ch: Int
        public var chMult: [Int]
        public var numResBlocks: Int
        public var zChannels: Int
        public var embedDim: Int
        public var doubleZ: Bool
        public var resolution: Int
        public var attnResolutions: [Int]
        public var scaleFactor: Float

        public init(inChannels: Int = 3, outChannels: Int = 3, ch: Int = 128, chMult: [Int] = [1, 2, 4, 4],
                    numResBlocks: Int = 2, zChannels: Int = 4, embedDim: Int = 4, doubleZ: Bool = true,
                    resolution: Int = 256, attnResolutions: [Int] = [], scaleFactor: Float = 0.18215) {
            self.inChannels = inChannels
            self.outChannels = outChannels
            self.ch = ch
            self.chMult = chMult
            self.numResBlocks = numResBlocks
            self.zChannels = zChannels
            self.embedDim = embedDim
            self.doubleZ = doubleZ
            self.resolution = resolution
            self.attnResolutions = attnResolutions
            self.scaleFactor = scaleFactor
        }

        /// From the checkpoint config (`first_stage_config.params`); `scaleFactor` is the
        /// diffusion model's `scale_factor` (0.18215 in every DynamiCrafter config).
        public init(_ params: AutoencoderParams, scaleFactor: Double = 0.18215) {
            self.init(ddconfig: params.ddconfig, embedDim: params.embedDim, scaleFactor: scaleFactor)
        }

        public init(ddconfig d: AutoencoderDDConfig, embedDim: Int, scaleFactor: Double = 0.18215) {
            self.init(inChannels: d.inChannels, outChannels: d.outCh, ch: d.ch, chMult: d.chMult,
                      numResBlocks: d.numResBlocks, zChannels: d.zChannels, embedDim: embedDim,
                      doubleZ: d.doubleZ, resolution: d.resolution, attnResolutions: d.attnResolutions,
                      scaleFactor: Float(scaleFactor))
        }

        /// The spatial reduction factor (8 for ch_mult of four levels).
        public var downsampleFactor: Int { 1 << max(chMult.count - 1, 0) }
    }

    /// Called with intermediate results (channels-last NHWC, as computed): `enc_out`
    /// `[N, h, w, 2z]`, `moments`, `post_quant`, `dec_mid`, `dec_up<i>` (after level `i` of the
    /// decoder, upsample included), `dec_out`.
    public typealias Tap = (String, Tensor) -> Void
    /// Runs between blocks (and frames); what it throws ends the pass there (cancellation).
    public typealias Interrupt = () throws -> Void

    public let configuration: Configuration
    public let context: ComputeContext
    let encoder: VAEEncoder
    let quantConv: Conv2d
    let postQuantConv: Conv2d
    let decoder: VAEDecoder

    /// `parameters` is scoped at the autoencoder (`first_stage_model`).
    public init(parameters: ParameterSource, configuration: Configuration, context: ComputeContext) throws {
        self.configuration = configuration
        self.context = context
        let c = configuration
        encoder = try VAEEncoder(parameters.scoped("encoder"), c, context)
        let momentsIn = c.doubleZ ? 2 * c.zChannels : c.zChannels
        quantConv = try Conv2d(parameters.scoped("quant_conv"), inChannels: momentsIn, outChannels: 2 * c.embedDim,
                               kernel: 1, context: context)
        postQuantConv = try Conv2d(parameters.scoped("post_quant_conv"), inChannels: c.embedDim,
                                   outChannels: c.zChannels, kernel: 1, context: context)
        decoder = try VAEDecoder(parameters.scoped("decoder"), c, context)
    }

    /// Convenience: the config's `first_stage_config.params`.
    public init(parameters: ParameterSource, config: AutoencoderParams, scaleFactor: Double = 0.18215,
                context: ComputeContext) throws {
        try self.init(parameters: parameters, configuration: Configuration(config, scaleFactor: scaleFactor), context: context)
    }

    /// The posterior of `frames` `[N, 3, H, W]` (NCHW, [-1, 1]): `mean`, clamped `logvar`
    /// (−30…20) and `std = exp(logvar/2)`, each NCHW `[N, embedDim, H/f, W/f]`. With `perFrame`
    /// the frames go through the encoder one at a time (the reference's `perframe_ae`; same
    /// numbers, less memory).
    public func encodeMoments(frames: Tensor, perFrame: Bool = false, tap: Tap? = nil, interrupt: Interrupt? = nil)
        throws -> (mean: Tensor, logvar: Tensor, std: Tensor) {
        guard frames.rank == 4, frames.shape[1] == configuration.inChannels else {
            throw TensorError.shapeMismatch("VAE.encodeMoments expects [N, \(configuration.inChannels), H, W], got \(Shape.describe(frames.shape))")
        }
        let moments = try runFrames(frames, perFrame: perFrame, interrupt: interrupt) { x in
            let xl = try Layout.nchwToNHWC(x)
            let h = try encoder(xl, interrupt: interrupt)
            tap?("enc_out", h)
            let m = try quantConv(h)
            tap?("moments", m)
            return try Layout.nhwcToNCHW(m)
        }
        let e = configuration.embedDim
        let mean = try moments.sliced(along: 1, range: 0..<e)
        var logvar = try moments.sliced(along: 1, range: e..<(2 * e))
        var std = logvar
        logvar.withUnsafeMutableBufferPointer { lv in
            std.withUnsafeMutableBufferPointer { sd in
                for i in 0..<lv.count {
                    let v = min(max(lv[i], -30), 20)
                    lv[i] = v
                    sd[i] = Foundation.exp(0.5 * v)
                }
            }
        }
        return (mean, logvar, std)
    }

    /// The scaled latent `scaleFactor·(mean + std·noise)` (all NCHW, same shape); `noise` is
    /// standard normal (the reference samples the posterior, it does not take its mean).
    public func sample(mean: Tensor, std: Tensor, noise: Tensor) throws -> Tensor {
        guard mean.shape == std.shape, mean.shape == noise.shape else {
            throw TensorError.shapeMismatch("VAE.sample: mean \(Shape.describe(mean.shape)), std \(Shape.describe(std.shape)), noise \(Shape.describe(noise.shape))")
        }
        let s = configuration.scaleFactor
        var out = mean
        std.withUnsafeBufferPointer { sd in
            noise.withUnsafeBufferPointer { nz in
                out.withUnsafeMutableBufferPointer { o in
                    for i in 0..<o.count { o[i] = s * (o[i] + sd[i] * nz[i]) }
                }
            }
        }
        return out
    }

    /// `encodeMoments` then `sample`: frames NCHW → scaled latent NCHW.
    public func encode(frames: Tensor, noise: Tensor, perFrame: Bool = false, tap: Tap? = nil,
                       interrupt: Interrupt? = nil) throws -> Tensor {
        let p = try encodeMoments(frames: frames, perFrame: perFrame, tap: tap, interrupt: interrupt)
        return try sample(mean: p.mean, std: p.std, noise: noise)
    }

    /// Decodes the *scaled* latent `z` `[N, embedDim, h, w]` (what `sample` and the sampler
    /// produce): divides by `scaleFactor` first, like the reference's `decode_first_stage`.
    /// Returns `[N, outChannels, h·f, w·f]`, roughly in [-1, 1], not clamped.
    public func decode(scaledLatent z: Tensor, perFrame: Bool = false, tap: Tap? = nil,
                       interrupt: Interrupt? = nil) throws -> Tensor {
        try decode(unscaledLatent: Kernels.scaled(z, by: 1 / configuration.scaleFactor), perFrame: perFrame,
                   tap: tap, interrupt: interrupt)
    }

    /// Decodes a latent that is already divided by `scaleFactor` (`AutoencoderKL.decode`).
    public func decode(unscaledLatent z: Tensor, perFrame: Bool = false, tap: Tap? = nil,
                       interrupt: Interrupt? = nil) throws -> Tensor {
        guard z.rank == 4, z.shape[1] == configuration.embedDim else {
            throw TensorError.shapeMismatch("VAE.decode expects [N, \(configuration.embedDim), h, w], got \(Shape.describe(z.shape))")
        }
        return try runFrames(z, perFrame: perFrame, interrupt: interrupt) { x in
            let h = try postQuantConv(Layout.nchwToNHWC(x))
            tap?("post_quant", h)
            let out = try decoder(h, tap: tap, interrupt: interrupt)
            tap?("dec_out", out)
            return try Layout.nhwcToNCHW(out)
        }
    }

    /// Runs `body` on the whole batch or frame by frame, concatenating along the batch.
    private func runFrames(_ x: Tensor, perFrame: Bool, interrupt: Interrupt?,
                           _ body: (Tensor) throws -> Tensor) throws -> Tensor {
        let n = x.shape[0]
        guard perFrame, n > 1 else { return try body(x) }
        var parts: [Tensor] = []
        parts.reserveCapacity(n)
        for i in 0..<n {
            try interrupt?()
            parts.append(try body(x.sliced(along: 0, range: i..<(i + 1))))
        }
        return try Tensor.concatenated(parts, along: 0)
    }
}

/// `ResnetBlock` of ae_modules (no timestep embedding): GN·SiLU·conv3×3, GN·SiLU·conv3×3, plus
/// the input (through `nin_shortcut` 1×1 when the width changes). Dropout is inference-off.
struct VAEResnetBlock: Sendable {
    let norm1: GroupNorm, conv1: Conv2d, norm2: GroupNorm, conv2: Conv2d
    let shortcut: Conv2d?

    init(_ p: ParameterSource, inChannels: Int, outChannels: Int, _ context: ComputeContext) throws {
        norm1 = try GroupNorm(p.scoped("norm1"), channels: inChannels, eps: 1e-6)
        conv1 = try Conv2d(p.scoped("conv1"), inChannels: inChannels, outChannels: outChannels, kernel: 3, padding: 1, context: context)
        norm2 = try GroupNorm(p.scoped("norm2"), channels: outChannels, eps: 1e-6)
        conv2 = try Conv2d(p.scoped("conv2"), inChannels: outChannels, outChannels: outChannels, kernel: 3, padding: 1, context: context)
        shortcut = inChannels == outChannels ? nil
            : try Conv2d(p.scoped("nin_shortcut"), inChannels: inChannels, outChannels: outChannels, kernel: 1, context: context)
    }

    func callAsFunction(_ x: Tensor) throws -> Tensor {
        var h = try conv1(norm1(x, silu: true))
        h = try conv2(norm2(h, silu: true))
        let skip = try shortcut.map { try $0(x) } ?? x
        try Kernels.addInPlace(&h, skip)
        return h
    }
}

/// `AttnBlock`: GN, 1×1 q/k/v, one head over all h·w positions with scale C^−½, `proj_out`,
/// residual.
struct VAEAttnBlock: Sendable {
    let norm: GroupNorm, q: Conv2d, k: Conv2d, v: Conv2d, proj: Conv2d
    let channels: Int
    let context: ComputeContext

    init(_ p: ParameterSource, channels c: Int, _ context: ComputeContext) throws {
        norm = try GroupNorm(p.scoped("norm"), channels: c, eps: 1e-6)
        q = try Conv2d(p.scoped("q"), inChannels: c, outChannels: c, kernel: 1, context: context)
        k = try Conv2d(p.scoped("k"), inChannels: c, outChannels: c, kernel: 1, context: context)
        v = try Conv2d(p.scoped("v"), inChannels: c, outChannels: c, kernel: 1, context: context)
        proj = try Conv2d(p.scoped("proj_out"), inChannels: c, outChannels: c, kernel: 1, context: context)
        channels = c
        self.context = context
    }

    func callAsFunction(_ x: Tensor) throws -> Tensor {
        let (n, hh, ww, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let h = try norm(x)
        let seq = [n, hh * ww, c]
        let qs = try q(h).reshaped(seq), ks = try k(h).reshaped(seq), vs = try v(h).reshaped(seq)
        let backend = context.backend
        let a = try backend.attention(q: qs, k: ks, v: vs, heads: 1, scale: 1 / Float(c).squareRoot(),
                                      precision: context.attentionPrecision)
        var out = try proj(a.reshaped([n, hh, ww, c]))
        try Kernels.addInPlace(&out, x)
        return out
    }
}

/// One level's blocks (and attention blocks where the resolution asks for them).
struct VAELevel: Sendable {
    let blocks: [VAEResnetBlock]
    let attns: [VAEAttnBlock]
    let resample: Conv2d?
}

/// `Encoder`: conv_in, levels of ResnetBlocks with Downsample (pad right/bottom by 1, 3×3
/// stride 2) on all but the last, mid (Resnet, Attn, Resnet), GN·SiLU, conv_out.
struct VAEEncoder: Sendable {
    let convIn: Conv2d
    let levels: [VAELevel]
    let mid1: VAEResnetBlock, midAttn: VAEAttnBlock, mid2: VAEResnetBlock
    let normOut: GroupNorm, convOut: Conv2d

    init(_ p: ParameterSource, _ c: VAE.Configuration, _ context: ComputeContext) throws {
        convIn = try Conv2d(p.scoped("conv_in"), inChannels: c.inChannels, outChannels: c.ch, kernel: 3, padding: 1, context: context)
        let inMult = [1] + c.chMult
        var res = c.resolution
        var blockIn = c.ch
        var levels: [VAELevel] = []
        for i in c.chMult.indices {
            let lp = p.scoped("down").scoped("\(i)")
            blockIn = c.ch * inMult[i]
            let blockOut = c.ch * c.chMult[i]
            var blocks: [VAEResnetBlock] = [], attns: [VAEAttnBlock] = []
            for j in 0..<c.numResBlocks {
                blocks.append(try VAEResnetBlock(lp.scoped("block").scoped("\(j)"), inChannels: blockIn, outChannels: blockOut, context))
                blockIn = blockOut
                if c.attnResolutions.contains(res) {
                    attns.append(try VAEAttnBlock(lp.scoped("attn").scoped("\(j)"), channels: blockIn, context))
                }
            }
            var down: Conv2d? = nil
            if i != c.chMult.count - 1 {
                down = try Conv2d(lp.scoped("downsample").scoped("conv"), inChannels: blockIn, outChannels: blockIn,
                                  stored: [blockIn, blockIn, 3, 3],
                                  geometry: Conv2dGeometry(kernelH: 3, kernelW: 3, strideH: 2, strideW: 2,
                                                           padTop: 0, padBottom: 1, padLeft: 0, padRight: 1),
                                  context: context)
                res /= 2
            }
            levels.append(VAELevel(blocks: blocks, attns: attns, resample: down))
        }
        self.levels = levels
        let m = p.scoped("mid")
        mid1 = try VAEResnetBlock(m.scoped("block_1"), inChannels: blockIn, outChannels: blockIn, context)
        midAttn = try VAEAttnBlock(m.scoped("attn_1"), channels: blockIn, context)
        mid2 = try VAEResnetBlock(m.scoped("block_2"), inChannels: blockIn, outChannels: blockIn, context)
        normOut = try GroupNorm(p.scoped("norm_out"), channels: blockIn, eps: 1e-6)
        convOut = try Conv2d(p.scoped("conv_out"), inChannels: blockIn, outChannels: c.doubleZ ? 2 * c.zChannels : c.zChannels,
                             kernel: 3, padding: 1, context: context)
    }

    func callAsFunction(_ x: Tensor, interrupt: VAE.Interrupt?) throws -> Tensor {
        var h = try convIn(x)
        for level in levels {
            try interrupt?()
            for (j, block) in level.blocks.enumerated() {
                h = try block(h)
                if !level.attns.isEmpty { h = try level.attns[j](h) }
            }
            if let down = level.resample { h = try down(h) }
        }
        h = try mid2(midAttn(mid1(h)))
        return try convOut(normOut(h, silu: true))
    }
}

/// `Decoder`: conv_in, mid, levels from deepest to shallowest with numResBlocks+1 ResnetBlocks
/// and Upsample (nearest ×2, conv 3×3) on all but level 0, GN·SiLU, conv_out (no tanh).
struct VAEDecoder: Sendable {
    let convIn: Conv2d
    let mid1: VAEResnetBlock, midAttn: VAEAttnBlock, mid2: VAEResnetBlock
    /// Indexed by level (`up.i`); run from the last to the first.
    let levels: [VAELevel]
    let normOut: GroupNorm, convOut: Conv2d

    init(_ p: ParameterSource, _ c: VAE.Configuration, _ context: ComputeContext) throws {
        var blockIn = c.ch * (c.chMult.last ?? 1)
        var res = c.resolution / (1 << max(c.chMult.count - 1, 0))
        convIn = try Conv2d(p.scoped("conv_in"), inChannels: c.zChannels, outChannels: blockIn, kernel: 3, padding: 1, context: context)
        let m = p.scoped("mid")
        mid1 = try VAEResnetBlock(m.scoped("block_1"), inChannels: blockIn, outChannels: blockIn, context)
        midAttn = try VAEAttnBlock(m.scoped("attn_1"), channels: blockIn, context)
        mid2 = try VAEResnetBlock(m.scoped("block_2"), inChannels: blockIn, outChannels: blockIn, context)
        var levels = [VAELevel?](repeating: nil, count: c.chMult.count)
        for i in c.chMult.indices.reversed() {
            let lp = p.scoped("up").scoped("\(i)")
            let blockOut = c.ch * c.chMult[i]
            var blocks: [VAEResnetBlock] = [], attns: [VAEAttnBlock] = []
            for j in 0...c.numResBlocks {
                blocks.append(try VAEResnetBlock(lp.scoped("block").scoped("\(j)"), inChannels: blockIn, outChannels: blockOut, context))
                blockIn = blockOut
                if c.attnResolutions.contains(res) {
                    attns.append(try VAEAttnBlock(lp.scoped("attn").scoped("\(j)"), channels: blockIn, context))
                }
            }
            var up: Conv2d? = nil
            if i != 0 {
                up = try Conv2d(lp.scoped("upsample").scoped("conv"), inChannels: blockIn, outChannels: blockIn,
                                kernel: 3, padding: 1, context: context)
                res *= 2
            }
            levels[i] = VAELevel(blocks: blocks, attns: attns, resample: up)
        }
        self.levels = levels.map { $0! }
        normOut = try GroupNorm(p.scoped("norm_out"), channels: blockIn, eps: 1e-6)
        convOut = try Conv2d(p.scoped("conv_out"), inChannels: blockIn, outChannels: c.outChannels, kernel: 3, padding: 1, context: context)
    }

    func callAsFunction(_ z: Tensor, tap: VAE.Tap?, interrupt: VAE.Interrupt?) throws -> Tensor {
        var h = try convIn(z)
        h = try mid2(midAttn(mid1(h)))
        tap?("dec_mid", h)
        for i in levels.indices.reversed() {
            try interrupt?()
            let level = levels[i]
            for (j, block) in level.blocks.enumerated() {
                h = try block(h)
                if !level.attns.isEmpty { h = try level.attns[j](h) }
            }
            if let up = level.resample { h = try up(Kernels.upsampleNearest2x(h)) }
            tap?("dec_up\(i)", h)
        }
        return try convOut(normOut(h, silu: true))
    }
}
