import CLIPTokenizer
import DynamiCrafterModel
import Foundation
import Imaging
import TensorCore
import TensorStorage

/// Observers and controls of one run. All are called on the running thread.
public struct AnimationHooks {
    /// Told at every stage change and after every sampling step.
    public var progress: ((AnimationProgress) -> Void)?
    /// Polled between network blocks and frames; `true` ends the run with
    /// `AnimationError.cancelled`.
    public var isCancelled: (() -> Bool)?
    /// Receives the reference's intermediate tensors under the golden files' names
    /// (`cond.ctx`, `c_concat`, `x_T`, per step `step.x`, `step.out_cond`, …, `latent_final`,
    /// `video_out`). Costs extra work; for parity checks.
    public var trace: ((String, Tensor) -> Void)?
    /// Encode every frame of the conditioning video through the VAE, as the reference does,
    /// instead of only the frames whose latents are used (same result, much slower; the trace
    /// then includes `z`).
    public var encodeAllFrames = false

    public init(progress: ((AnimationProgress) -> Void)? = nil, isCancelled: (() -> Bool)? = nil,
                trace: ((String, Tensor) -> Void)? = nil) {
        self.progress = progress
        self.isCancelled = isCancelled
        self.trace = trace
    }
}

/// The outcome of a run.
public struct AnimationResult: Sendable {
    /// The sampled latent `[1, 4, T, h, w]`.
    public let latent: Tensor
    /// The decoded video `[1, 3, T, H, W]`, unclamped, as the reference's `decode_first_stage`.
    public let video: Tensor
    /// The frames as saved: clamped to [-1, 1], `trunc((v + 1)/2·255)`; `loop` drops the last.
    public let frames: [RGBImage]
    public let settings: AnimationSettings
    /// Wall-clock seconds per stage.
    public let timings: [AnimationStage: Double]
    /// UNet passes of the denoising loop: full, and shallow (deep feature reused, step caching).
    public let fullUNetPasses: Int
    public let shallowUNetPasses: Int
}

/// DynamiCrafter's `image_guided_synthesis`: conditioning, DDIM (or a multistep solver,
/// `AnimationSettings.sampler`) with classifier-free guidance, VAE decoding — for animate, interpolate and loop, with the reference's random-draw order
/// (VAE posterior noise, x_T, one draw per step) so a `TorchRandom` seed means what it means in
/// the reference.
///
/// Guidance runs the conditional, unconditional (and image-only) passes as one batch.
public struct AnimationPipeline: Sendable {
    public let model: AnimationModel

    public init(model: AnimationModel) { self.model = model }

    /// The reference's load transform for an input image: resize the short side, center crop to
    /// the model's frame size, `[1, 3, H, W]` in [-1, 1].
    public func prepareImage(_ image: RGBImage) throws -> Tensor {
        let size = model.frameSize
        return ImagePreprocessing.normalizedTensor(
            try ImagePreprocessing.resizeAndCenterCrop(image, height: size.height, width: size.width))
    }

    /// One whole run. `image` (and `endImage` for `.interpolate`) are `[1, 3, H, W]` in [-1, 1]
    /// at the model's frame size (see `prepareImage`). `noise` supplies every normal draw.
    public func run<Source: NoiseSource>(image: Tensor, endImage: Tensor? = nil, settings: AnimationSettings,
                                         noise: inout Source, hooks: AnimationHooks = AnimationHooks()) throws -> AnimationResult {
        try settings.validate()
        let size = model.frameSize
        let expected = [1, 3, size.height, size.width]
        guard image.shape == expected else {
            throw AnimationError.invalidInput("the image is \(Shape.describe(image.shape)), the model needs \(Shape.describe(expected))")
        }
        switch settings.mode {
        case .interpolate:
            guard let endImage else { throw AnimationError.invalidInput("interpolation needs an end image") }
            guard endImage.shape == expected else {
                throw AnimationError.invalidInput("the end image is \(Shape.describe(endImage.shape)), the model needs \(Shape.describe(expected))")
            }
        case .animate, .loop:
            guard endImage == nil else { throw AnimationError.invalidInput("an end image is only used in interpolate mode") }
        }

        let clock = ContinuousClock()
        let start = clock.now
        func seconds(since t: ContinuousClock.Instant) -> Double {
            let d = t.duration(to: clock.now)
            return Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
        }
        let interrupt: () throws -> Void = {
            if hooks.isCancelled?() == true { throw AnimationError.cancelled }
        }
        var timings: [AnimationStage: Double] = [:]
        hooks.progress?(AnimationProgress(stage: .encoding, step: 0, totalSteps: settings.steps, elapsed: 0, remaining: nil))

        // Conditioning.
        let guidance = try GuidanceConfig(scale: settings.guidanceScale, rescale: settings.guidanceRescale,
                                          imageScale: settings.imageGuidanceScale)
        try interrupt()
        let contexts = try conditioningContexts(image: image, prompt: settings.prompt, guidance: guidance, trace: hooks.trace)
        try interrupt()
        let cConcat = try imageLatents(image: image, endImage: endImage, settings: settings, noise: &noise,
                                       hooks: hooks, interrupt: interrupt)
        let latentShape = cConcat.shape
        let xT = try noise.standardNormal(shape: latentShape)
        hooks.trace?("x_T", xT)
        timings[.encoding] = seconds(since: start)

        // Denoising.
        let denoiseStart = clock.now
        let schedule = try DDIMSchedule(schedule: model.noiseSchedule, steps: settings.steps, spacing: settings.timestepSpacing,
                                        eta: settings.eta, dynamicRescaleBase: model.dynamicRescaleBase)
        let predictor = try GuidedUNet(unet: model.unet, contexts: contexts, imageLatent: cConcat,
                                   frameStride: settings.frameStride, interrupt: interrupt)
        var loop = try DenoisingLoop(sampler: settings.sampler, schedule: schedule, parameterization: model.parameterization,
                                     guidance: guidance, initialNoise: xT, noise: noise, keepsPredictedX0: hooks.trace != nil)
        var stepCache = settings.cachesSteps ? StepCache(interval: settings.cacheInterval) : nil
        hooks.progress?(AnimationProgress(stage: .denoising, step: 0, totalSteps: schedule.count,
                                          elapsed: seconds(since: start), remaining: nil))
        while let step = loop.nextStep {
            let prediction: NoisePrediction
            if var cache = stepCache {
                stepCache = nil  // one owner of the feature, so a full pass can free it first
                prediction = try predictor.predictNoise(loop.x, step: step, number: loop.completedSteps, cache: &cache)
                stepCache = cache
            } else {
                prediction = try predictor.predictNoise(loop.x, step: step)
            }
            if let trace = hooks.trace {
                trace("step.x", loop.x)
                trace("step.out_cond", prediction.conditional)
                if let u = prediction.unconditional { trace("step.out_uncond", u) }
                let guided = try loop.guidedOutput(prediction)
                trace("step.model_out_cfg", guided)
                // ε is DDIM's intermediate; the solvers step in x̂₀ and have none.
                if let sampler = loop.ddimStepSampler {
                    trace("step.e_t", try sampler.epsilonAndPredictedX0(modelOutput: guided, x: loop.x, index: step.index).epsilon)
                }
            }
            let report = try loop.advance(with: prediction)
            if let trace = hooks.trace {
                if let p = loop.predictedX0 { trace("step.pred_x0", p) }
                trace("step.x_prev", loop.x)
            }
            let elapsed = seconds(since: denoiseStart)
            let perStep = elapsed / Double(report.completedSteps)
            hooks.progress?(AnimationProgress(stage: .denoising, step: report.completedSteps, totalSteps: report.totalSteps,
                                              elapsed: seconds(since: start),
                                              remaining: perStep * Double(report.totalSteps - report.completedSteps) + perStep))
            try interrupt()
        }
        noise = loop.noiseSource
        let passes = stepCache.map { ($0.fullPasses, $0.shallowPasses) } ?? (schedule.count, 0)
        stepCache = nil  // its feature is not needed while decoding
        let latent = loop.x
        guard Self.isFinite(latent) else { throw AnimationError.nonFiniteOutput(stage: "denoising") }
        hooks.trace?("latent_final", latent)
        timings[.denoising] = seconds(since: denoiseStart)

        // Decoding.
        let decodeStart = clock.now
        hooks.progress?(AnimationProgress(stage: .decoding, step: schedule.count, totalSteps: schedule.count,
                                          elapsed: seconds(since: start), remaining: nil))
        // Frame by frame whatever `perframe_ae` says: the decoder treats frames as independent
        // samples (the same numbers either way), and 16 frames at once hold 16 full-resolution
        // feature maps: 3 GiB at 256×256, 27 GiB at 576×1024. It is not slower.
        let video = try decode(latent: latent, perFrame: true, interrupt: interrupt)
        hooks.trace?("video_out", video)
        var frames = try Self.framesU8(video)
        if settings.mode == .loop { frames.removeLast() }
        timings[.decoding] = seconds(since: decodeStart)
        return AnimationResult(latent: latent, video: video, frames: frames, settings: settings, timings: timings,
                               fullUNetPasses: passes.0, shallowUNetPasses: passes.1)
    }

    // MARK: - Stages

    /// The cross-attention contexts `cat(text, image tokens)`: conditional (prompt, image),
    /// unconditional (empty prompt, zero image) and, with image guidance, image-only (empty
    /// prompt, image). The text and image towers each run once on a batch.
    func conditioningContexts(image: Tensor, prompt: String, guidance: GuidanceConfig,
                              trace: ((String, Tensor) -> Void)?) throws -> GuidedUNet.Contexts {
        let needsUncond = guidance.usesUnconditional
        var prompts = [model.tokenizer.tokenize(prompt)]
        if needsUncond { prompts.append(model.tokenizer.tokenize("")) }
        let text = try model.textEncoder.encode(tokens: prompts)

        var images = [image]
        if needsUncond { images.append(Tensor(zeros: image.shape)) }
        let clipIn = try ImagePreprocessing.clipPreprocess(Tensor.concatenated(images, along: 0))
        let tokens = try model.visionEncoder.encode(clipIn)
        let imageEmbedding = try model.resampler(tokens)

        func row(_ t: Tensor, _ i: Int) throws -> Tensor { try t.sliced(along: 0, range: i..<(i + 1)) }
        let cond = try Tensor.concatenated([row(text, 0), row(imageEmbedding, 0)], along: 1)
        if let trace {
            trace("cond.text", try row(text, 0))
            trace("cond.img_tokens", try row(tokens, 0))
            trace("cond.img_emb", try row(imageEmbedding, 0))
            trace("cond.ctx", cond)
        }
        guard needsUncond else { return GuidedUNet.Contexts(conditional: cond, unconditional: nil, imageOnly: nil) }
        let uncond = try Tensor.concatenated([row(text, 1), row(imageEmbedding, 1)], along: 1)
        if let trace {
            trace("uncond.text", try row(text, 1))
            trace("uncond.img_tokens", try row(tokens, 1))
            trace("uncond.img_emb", try row(imageEmbedding, 1))
            trace("uncond.ctx", uncond)
        }
        let imageOnly = guidance.usesImageOnly
            ? try Tensor.concatenated([row(text, 1), row(imageEmbedding, 0)], along: 1) : nil
        return GuidedUNet.Contexts(conditional: cond, unconditional: uncond, imageOnly: imageOnly)
    }

    /// `c_concat` `[1, 4, T, h, w]`: the VAE latent of the first frame on every frame (animate),
    /// or of the first and last frames with zeros between (interpolate, loop).
    ///
    /// The reference encodes the whole conditioning video (the image repeated; for interpolation
    /// the start image on the first half and the end image on the second) with one posterior
    /// noise draw of `[T, 4, h, w]` (T draws of `[1, 4, h, w]` per frame). The same draws are
    /// taken here, but only the frames whose latents are used are encoded.
    func imageLatents<Source: NoiseSource>(image: Tensor, endImage: Tensor?, settings: AnimationSettings,
                                           noise: inout Source, hooks: AnimationHooks,
                                           interrupt: @escaping () throws -> Void) throws -> Tensor {
        let t = settings.frames
        let latent = model.latentSize
        let c = model.latentChannels
        let frameShape = [1, c, latent.height, latent.width]
        var encoderNoise: Tensor
        if settings.perFrameVAE {
            var draws: [Tensor] = []
            for _ in 0..<t { draws.append(try noise.standardNormal(shape: frameShape)) }
            encoderNoise = try Tensor.concatenated(draws, along: 0)
        } else {
            encoderNoise = try noise.standardNormal(shape: [t, c, latent.height, latent.width])
        }
        // Frame i of the conditioning video.
        let end = endImage ?? image
        let firstEndFrame = settings.mode == .interpolate ? t / 2 : t
        func videoFrame(_ i: Int) -> Tensor { i < firstEndFrame ? image : end }

        let used: [Int] = switch settings.mode {
        case .animate: [0]
        case .interpolate, .loop: [0, t - 1]
        }
        let encodeIndices = hooks.encodeAllFrames ? Array(0..<t) : used
        let frames = try Tensor.concatenated(encodeIndices.map(videoFrame), along: 0)
        let rows = try Tensor.concatenated(encodeIndices.map { try encoderNoise.sliced(along: 0, range: $0..<($0 + 1)) }, along: 0)
        let z = try model.vae.encode(frames: frames, noise: rows, perFrame: settings.perFrameVAE, interrupt: interrupt)
        guard Self.isFinite(z) else { throw AnimationError.nonFiniteOutput(stage: "encoding the image") }
        func latentOf(frame i: Int) throws -> Tensor {
            let k = encodeIndices.firstIndex(of: i) ?? 0
            return try z.sliced(along: 0, range: k..<(k + 1))
        }
        if hooks.encodeAllFrames, let trace = hooks.trace {
            trace("z", try z.reshaped([1, t, c, latent.height, latent.width]).permuted([0, 2, 1, 3, 4]))
        }
        // [T, c, h, w] per frame, then to [1, c, T, h, w].
        var perFrame: [Tensor] = []
        let zero = Tensor(zeros: frameShape)
        for i in 0..<t {
            switch settings.mode {
            case .animate: perFrame.append(try latentOf(frame: 0))
            case .interpolate, .loop: perFrame.append(i == 0 || i == t - 1 ? try latentOf(frame: i) : zero)
            }
        }
        let cConcat = try Tensor.concatenated(perFrame, along: 0).reshaped([1, t, c, latent.height, latent.width])
            .permuted([0, 2, 1, 3, 4])
        hooks.trace?("c_concat", cConcat)
        return cConcat
    }

    /// `decode_first_stage`: `[1, c, T, h, w]` scaled latent → `[1, 3, T, H, W]`.
    public func decode(latent: Tensor, perFrame: Bool, interrupt: (() throws -> Void)? = nil) throws -> Tensor {
        guard latent.rank == 5, latent.shape[0] == 1 else {
            throw AnimationError.invalidInput("latent must be [1, C, T, h, w], got \(Shape.describe(latent.shape))")
        }
        let (c, t, h, w) = (latent.shape[1], latent.shape[2], latent.shape[3], latent.shape[4])
        let frames = try latent.permuted([0, 2, 1, 3, 4]).reshaped([t, c, h, w])
        let decoded = try model.vae.decode(scaledLatent: frames, perFrame: perFrame, interrupt: interrupt)
        let (oc, oh, ow) = (decoded.shape[1], decoded.shape[2], decoded.shape[3])
        let video = try decoded.reshaped([1, t, oc, oh, ow]).permuted([0, 2, 1, 3, 4])
        guard Self.isFinite(video) else { throw AnimationError.nonFiniteOutput(stage: "decoding") }
        return video
    }

    /// Every value finite, read in place (`scalars` would copy the whole tensor).
    static func isFinite(_ t: Tensor) -> Bool {
        t.withUnsafeBufferPointer { $0.allSatisfy(\.isFinite) }
    }

    /// `[1, 3, T, H, W]` → T RGB images, as the reference saves them:
    /// `uint8(trunc(((clamp(v, −1, 1) + 1)/2)·255))` in float32.
    public static func framesU8(_ video: Tensor) throws -> [RGBImage] {
        guard video.rank == 5, video.shape[0] == 1, video.shape[1] == 3 else {
            throw AnimationError.invalidInput("video must be [1, 3, T, H, W], got \(Shape.describe(video.shape))")
        }
        let (t, h, w) = (video.shape[2], video.shape[3], video.shape[4])
        let plane = h * w
        return try video.withUnsafeBufferPointer { v in
            try (0..<t).map { f in
                var pixels = [UInt8](repeating: 0, count: plane * 3)
                for ch in 0..<3 {
                    let base = (ch * t + f) * plane
                    for i in 0..<plane {
                        let x = min(max(v[base + i], -1), 1)
                        let y = ((x + 1) / 2) * 255
                        pixels[i * 3 + ch] = UInt8(y.rounded(.towardZero))
                    }
                }
                return try RGBImage(width: w, height: h, pixels: pixels)
            }
        }
    }
}
