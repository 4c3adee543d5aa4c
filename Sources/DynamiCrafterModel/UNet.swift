import TensorCore
import TensorStorage

/// One layer of a `TimestepEmbedSequential` of the UNet.
enum UNetLayer: Sendable {
    case conv(Conv2d)
    case res(ResBlock)
    case spatial(SpatialTransformer)
    case temporal(TemporalTransformer)
    case downsample(Conv2d)
    case upsample(Conv2d)

    func callAsFunction(_ h: Tensor, emb: Tensor, context: Tensor, batch: Int) throws -> Tensor {
        switch self {
        case .conv(let c), .downsample(let c): return try c.callAsFunction(h)
        case .res(let r): return try r.callAsFunction(h, emb: emb, batch: batch)
        case .spatial(let s): return try s.callAsFunction(h, context: context)
        case .temporal(let t): return try t.callAsFunction(h, batch: batch)
        case .upsample(let c): return try c.callAsFunction(Kernels.upsampleNearest2x(h))
        }
    }
}

/// DynamiCrafter's 3D UNet (`lvdm.modules.networks.openaimodel3d.UNetModel`), with weights
/// packed once at load. Runs channels-last (`[B·T, h, w, C]`) internally; the reference layout
/// appears only at the boundaries (and in taps).
public struct UNet: Sendable {
    public let config: UNetParams
    public let timeEmbed: TimestepEmbedder
    public let fpsEmbedding: TimestepEmbedder?
    let inputBlocks: [[UNetLayer]]
    let initAttention: TemporalTransformer?
    let middleBlock: [UNetLayer]
    let outputBlocks: [[UNetLayer]]
    public let outNorm: GroupNorm
    public let outConv: Conv2d

    /// Number of text tokens of the context; the rest are image tokens.
    public static let textContextLength = 77
    /// Image tokens per frame when the context carries per-frame image tokens.
    public static let imageTokensPerFrame = 16

    /// `parameters` scoped at `model.diffusion_model`.
    public init(parameters: ParameterSource, config: UNetParams, context: ComputeContext) throws {
        self.config = config
        let mc = config.modelChannels
        let embDim = 4 * mc
        timeEmbed = try TimestepEmbedder(parameters.scoped("time_embed"), modelChannels: mc,
                                         embedChannels: embDim, context: context)
        if config.fsCondition {
            let name = !parameters.contains("fps_embedding.0.weight") && parameters.contains("framestride_embed.0.weight")
                ? "framestride_embed" : "fps_embedding"
            fpsEmbedding = try TimestepEmbedder(parameters.scoped(name), modelChannels: mc,
                                                embedChannels: embDim, context: context)
        } else {
            fpsEmbedding = nil
        }

        func headsAndWidth(_ ch: Int) -> (Int, Int) {
            config.numHeadChannels == -1 ? (config.numHeads, ch / config.numHeads)
                : (ch / config.numHeadChannels, config.numHeadChannels)
        }
        func transformers(_ p: ParameterSource, _ first: Int, _ ch: Int) throws -> [UNetLayer] {
            let (heads, width) = headsAndWidth(ch)
            var layers: [UNetLayer] = [.spatial(try SpatialTransformer(
                p.scoped("\(first)"), channels: ch, heads: heads, headDim: width, depth: config.transformerDepth,
                contextDim: config.contextDim, imageCrossAttention: config.imageCrossAttention,
                learnableImageScale: config.imageCrossAttentionScaleLearnable, context: context))]
            if config.temporalAttention {
                layers.append(.temporal(try TemporalTransformer(
                    p.scoped("\(first + 1)"), channels: ch, heads: heads, headDim: width,
                    depth: config.transformerDepth, useLinear: config.useLinear, context: context)))
            }
            return layers
        }
        func res(_ p: ParameterSource, _ inCh: Int, _ outCh: Int) throws -> UNetLayer {
            .res(try ResBlock(p, inChannels: inCh, outChannels: outCh, embChannels: embDim,
                              temporalConv: config.temporalConv, context: context))
        }

        let inputs = parameters.scoped("input_blocks")
        var blocks: [[UNetLayer]] = [[.conv(try Conv2d(inputs.scoped("0.0"), inChannels: config.inChannels,
                                                       outChannels: mc, kernel: 3, padding: 1, context: context))]]
        initAttention = config.additionAttention
            ? try TemporalTransformer(parameters.scoped("init_attn.0"), channels: mc, heads: 8,
                                      headDim: config.numHeadChannels == -1 ? mc / config.numHeads : config.numHeadChannels,
                                      depth: config.transformerDepth, useLinear: false, context: context)
            : nil
        var chans = [mc]
        var ch = mc
        var ds = 1
        for (level, mult) in config.channelMult.enumerated() {
            for _ in 0 ..< config.numResBlocks {
                let p = inputs.scoped("\(blocks.count)")
                var layers = [try res(p.scoped("0"), ch, mult * mc)]
                ch = mult * mc
                if config.attentionResolutions.contains(ds) { layers += try transformers(p, 1, ch) }
                blocks.append(layers)
                chans.append(ch)
            }
            if level != config.channelMult.count - 1 {
                let p = inputs.scoped("\(blocks.count).0.op")
                blocks.append([.downsample(try Conv2d(p, inChannels: ch, outChannels: ch, kernel: 3, stride: 2,
                                                      padding: 1, context: context))])
                chans.append(ch)
                ds *= 2
            }
        }
        inputBlocks = blocks

        let middle = parameters.scoped("middle_block")
        middleBlock = [try res(middle.scoped("0"), ch, ch)] + (try transformers(middle, 1, ch))
            + [try res(middle.scoped(config.temporalAttention ? "3" : "2"), ch, ch)]

        let outputs = parameters.scoped("output_blocks")
        var outBlocks: [[UNetLayer]] = []
        for (level, mult) in config.channelMult.enumerated().reversed() {
            for i in 0 ... config.numResBlocks {
                let p = outputs.scoped("\(outBlocks.count)")
                let skipCh = chans.removeLast()
                var layers = [try res(p.scoped("0"), ch + skipCh, mult * mc)]
                ch = mult * mc
                if config.attentionResolutions.contains(ds) { layers += try transformers(p, 1, ch) }
                if level != 0 && i == config.numResBlocks {
                    layers.append(.upsample(try Conv2d(p.scoped("\(layers.count).conv"), inChannels: ch, outChannels: ch,
                                                       kernel: 3, padding: 1, context: context)))
                    ds /= 2
                }
                outBlocks.append(layers)
            }
        }
        outputBlocks = outBlocks
        outNorm = try GroupNorm(parameters.scoped("out.0"), channels: ch, eps: 1e-5)
        outConv = try Conv2d(parameters.scoped("out.2"), inChannels: mc, outChannels: config.outChannels,
                             kernel: 3, padding: 1, context: context)
    }

    /// The cache branch step caching uses: input block 1, the first block at the highest
    /// resolution (DeepCache's choice for Stable Diffusion). A shallow pass then runs input blocks
    /// 0–1 and the last two output blocks: a quarter of a full step's time with the 256 model.
    public static let defaultCacheBranch = 1

    /// The branches a deep feature can be kept at: any input block.
    public var cacheBranches: ClosedRange<Int> { 0...(inputBlocks.count - 1) }

    /// `x` `[B, inChannels, T, h, w]`, `timesteps` B integers, `context` `[B, L, C]`
    /// (`L = 77 + 16·T` gives every frame its own 16 image tokens), `fs` B frame strides / fps
    /// (nil: `default_fs`). Returns `[B, outChannels, T, h, w]`. `tap` receives the reference's
    /// intermediates (`t_emb`, `time_embed`, `fs_emb_sin`, `fps_embedding`, `emb`,
    /// `context_frames`, `input_blocks.i`, `init_attn`, `middle_block`, `output_blocks.i`) in its
    /// layout (`[(b t), C, h, w]` for feature maps). `interrupt` runs before every block; what it
    /// throws ends the forward pass there (cancellation within a step).
    public func callAsFunction(x: Tensor, timesteps: [Int], context: Tensor, fs: [Int]? = nil,
                               tap: ((String, Tensor) -> Void)? = nil,
                               interrupt: (() throws -> Void)? = nil) throws -> Tensor {
        try forward(x: x, timesteps: timesteps, context: context, fs: fs, deepPath: .compute, tap: tap,
                    interrupt: interrupt).output
    }

    /// The forward pass with step caching: `.computeAndKeep` returns the deep feature along with
    /// the output, `.reuse` takes one instead of running the deep path. A reused feature must come
    /// from a pass with the same batch, frames and size; with the same inputs the output equals
    /// the full pass's.
    public func callAsFunction(x: Tensor, timesteps: [Int], context: Tensor, fs: [Int]? = nil,
                               deepPath: UNetDeepPath, interrupt: (() throws -> Void)? = nil) throws -> UNetPass {
        try forward(x: x, timesteps: timesteps, context: context, fs: fs, deepPath: deepPath, tap: nil,
                    interrupt: interrupt)
    }

    private func forward(x: Tensor, timesteps: [Int], context: Tensor, fs: [Int]?, deepPath: UNetDeepPath,
                         tap: ((String, Tensor) -> Void)?, interrupt: (() throws -> Void)?) throws -> UNetPass {
        guard x.rank == 5, x.shape[1] == config.inChannels else {
            throw TensorError.shapeMismatch("UNet expects x [B, \(config.inChannels), T, h, w], got \(Shape.describe(x.shape))")
        }
        let b = x.shape[0], t = x.shape[2], hh = x.shape[3], ww = x.shape[4]
        guard timesteps.count == b, context.rank == 3, context.shape[0] == b else {
            throw TensorError.shapeMismatch("UNet: \(timesteps.count) timesteps and context \(Shape.describe(context.shape)) for batch \(b)")
        }
        var keepBranch: Int?
        var reused: UNetDeepFeature?
        switch deepPath {
        case .compute: break
        case .computeAndKeep(let branch): keepBranch = branch
        case .reuse(let feature): reused = feature
        }
        if let branch = keepBranch ?? reused?.branch, !cacheBranches.contains(branch) {
            throw TensorError.invalidArgument("UNet cache branch \(branch) is not an input block (0…\(cacheBranches.upperBound))")
        }
        func emit(_ name: String, _ value: @autoclosure () throws -> Tensor) rethrows {
            if let tap { tap(name, try value()) }
        }

        // Embeddings.
        let tEmb = try timeEmbed.sinusoidal(timesteps)
        emit("t_emb", tEmb)
        var emb = try timeEmbed.callAsFunction(tEmb)
        emit("time_embed", emb)
        if let fpsEmbedding {
            let values = fs ?? Array(repeating: config.defaultFs ?? 3, count: b)
            guard values.count == b else {
                throw TensorError.shapeMismatch("UNet: \(values.count) fs values for batch \(b)")
            }
            let fsSin = try fpsEmbedding.sinusoidal(values)
            emit("fs_emb_sin", fsSin)
            let fsEmb = try fpsEmbedding.callAsFunction(fsSin)
            emit("fps_embedding", fsEmb)
            try Kernels.addInPlace(&emb, fsEmb)
        }
        emb = try emb.repeatedInterleaved(along: 0, count: t)
        emit("emb", emb)

        // Context per frame.
        let lc = context.shape[1], cc = context.shape[2]
        let frameContext: Tensor
        if lc == Self.textContextLength + Self.imageTokensPerFrame * t {
            let text = try context.sliced(along: 1, range: 0 ..< Self.textContextLength).repeatedInterleaved(along: 0, count: t)
            let image = try context.sliced(along: 1, range: Self.textContextLength ..< lc)
                .reshaped([b * t, Self.imageTokensPerFrame, cc])
            frameContext = try Tensor.concatenated([text, image], along: 1)
        } else {
            frameContext = try context.repeatedInterleaved(along: 0, count: t)
        }
        emit("context_frames", frameContext)

        func featureTap(_ name: String, _ h: Tensor) throws {
            if let tap { tap(name, try Layout.nhwcToNCHW(h)) }
        }

        // A shallow pass stops the input blocks at the branch: deeper skips are not needed.
        let inputCount = reused.map { $0.branch + 1 } ?? inputBlocks.count
        var h = try Layout.ncthwToNTHWC(x).reshaped([b * t, hh, ww, config.inChannels])
        var skips: [Tensor] = []
        for (index, block) in inputBlocks.prefix(inputCount).enumerated() {
            try interrupt?()
            for layer in block { h = try layer.callAsFunction(h, emb: emb, context: frameContext, batch: b) }
            try featureTap("input_blocks.\(index)", h)
            if index == 0, let initAttention {
                h = try initAttention.callAsFunction(h, batch: b)
                try featureTap("init_attn", h)
            }
            skips.append(h)
        }
        // Output block j concatenates the skip of input block L−1−j.
        let firstOutput: Int
        if let reused {
            let skip = skips[reused.branch].shape
            guard reused.value.rank == 4, Array(reused.value.shape.prefix(3)) == Array(skip.prefix(3)) else {
                throw TensorError.shapeMismatch("UNet: cached deep feature \(Shape.describe(reused.value.shape)) does not fit the skip \(Shape.describe(skip)) of input block \(reused.branch)")
            }
            h = reused.value
            firstOutput = outputBlocks.count - 1 - reused.branch
        } else {
            try interrupt?()
            for layer in middleBlock { h = try layer.callAsFunction(h, emb: emb, context: frameContext, batch: b) }
            try featureTap("middle_block", h)
            firstOutput = 0
        }
        var kept: UNetDeepFeature?
        for (index, block) in outputBlocks.enumerated() where index >= firstOutput {
            try interrupt?()
            if let keepBranch, index == outputBlocks.count - 1 - keepBranch {
                kept = UNetDeepFeature(branch: keepBranch, value: h)
            }
            h = try Tensor.concatenated([h, skips.removeLast()], along: 3)
            for layer in block { h = try layer.callAsFunction(h, emb: emb, context: frameContext, batch: b) }
            try featureTap("output_blocks.\(index)", h)
        }
        h = try outConv.callAsFunction(outNorm.callAsFunction(h, silu: true))
        let oh = h.shape[1], ow = h.shape[2]
        let output = try Layout.nthwcToNCTHW(h.reshaped([b, t, oh, ow, config.outChannels]))
        return UNetPass(output: output, deepFeature: kept)
    }
}
