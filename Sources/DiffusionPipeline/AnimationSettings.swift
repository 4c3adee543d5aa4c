import DynamiCrafterModel

/// What the sampler conditions on.
public enum AnimationMode: String, Sendable, Hashable, CaseIterable {
    /// Image to video: the image's latent is given to every frame (the reference's default).
    case animate
    /// Generative interpolation between a start and an end image (`--interp`, the 512-interp
    /// model): only the first and last frames get an image latent.
    case interpolate
    /// A looping clip (`--loop`): the image's latent on the first and last frames, and the last
    /// frame is dropped from the output so the clip repeats seamlessly.
    case loop

    public init(_ mode: PresetConditioningMode) {
        switch mode {
        case .imageToVideo: self = .animate
        case .interpolation: self = .interpolate
        case .loop: self = .loop
        }
    }
}

extension PresetConditioningMode {
    /// The conditioning a run in `mode` asks of a model (what `ModelLocation.resolve` takes to
    /// choose between checkpoints that differ only in it).
    public init(_ mode: AnimationMode) {
        switch mode {
        case .animate: self = .imageToVideo
        case .interpolate: self = .interpolation
        case .loop: self = .loop
        }
    }
}

/// A user's choices for one run; nil means the model's default (`SamplingDefaults`).
public struct AnimationOptions: Sendable, Equatable {
    public var prompt: String = ""
    public var frames: Int?
    public var steps: Int?
    public var guidanceScale: Double?
    /// Separate image guidance (multi-condition CFG); nil = plain guidance.
    public var imageGuidanceScale: Double?
    public var eta: Double?
    public var seed: UInt64?
    /// `fs`: the frame stride (256 model) or frames per second (512 / 1024 models).
    public var frameStride: Int?
    public var mode: AnimationMode?
    public var guidanceRescale: Double?
    public var timestepSpacing: DDIMTimestepSpacing?
    public var perFrameVAE: Bool?
    /// nil = DDIM, the reference's sampler.
    public var sampler: SamplerKind?
    /// Step caching: every n-th step runs the whole UNet, the others reuse its deep feature
    /// (approximate). nil, 0 or 1: off.
    public var cacheInterval: Int?

    public init(prompt: String = "") { self.prompt = prompt }
}

/// Every sampling choice of a run, resolved against the model's defaults and checked.
public struct AnimationSettings: Sendable, Equatable {
    public var prompt: String
    public var frames: Int
    public var steps: Int
    public var guidanceScale: Double
    public var imageGuidanceScale: Double?
    public var eta: Double
    public var seed: UInt64
    public var frameStride: Int
    public var mode: AnimationMode
    public var guidanceRescale: Double
    public var timestepSpacing: DDIMTimestepSpacing
    public var perFrameVAE: Bool
    /// DDIM (the default) or a multistep solver; `eta` is 0 for the solvers, which draw no noise.
    public var sampler: SamplerKind
    /// Step caching (DeepCache) interval; 0 or 1: off, every step runs the whole UNet.
    public var cacheInterval: Int
    /// Frames per second of the written video.
    public var outputFPS: Int

    /// Accepted ranges (the published models use 16 frames, 50 steps, scale 7.5).
    public static let frameRange = 2...64
    public static let stepRange = 1...1000
    public static let guidanceRange = 0.0...50.0
    public static let etaRange = 0.0...10.0
    public static let frameStrideRange = 1...1000
    /// 0 and 1 are off; beyond 10 the reused feature is too stale to be worth it.
    public static let cacheIntervalRange = 0...10
    /// Training timesteps of every DynamiCrafter model.
    public static let trainingTimesteps = 1000

    /// `options` over `defaults`; throws `AnimationError.invalidOption` naming the first value out
    /// of range.
    public init(options: AnimationOptions, defaults: SamplingDefaults) throws {
        prompt = options.prompt
        frames = options.frames ?? defaults.frames
        steps = options.steps ?? defaults.ddimSteps
        guidanceScale = options.guidanceScale ?? defaults.guidanceScale
        imageGuidanceScale = options.imageGuidanceScale
        eta = options.eta ?? defaults.ddimEta
        seed = options.seed ?? defaults.seed
        frameStride = options.frameStride ?? defaults.frameStride
        mode = options.mode ?? AnimationMode(defaults.mode)
        guidanceRescale = options.guidanceRescale ?? defaults.guidanceRescale
        timestepSpacing = options.timestepSpacing ?? DDIMTimestepSpacing(defaults.timestepSpacing)
        perFrameVAE = options.perFrameVAE ?? defaults.perFrameVAE
        cacheInterval = options.cacheInterval ?? 1
        outputFPS = defaults.outputFPS
        sampler = options.sampler ?? .ddim
        if sampler != .ddim {
            // eta is DDIM's fresh noise per step; a solver has none to scale. An explicit 0 says
            // just that and is accepted; anything else would be silently ignored, so it is refused.
            if let asked = options.eta, asked != 0 {
                throw AnimationError.invalidOption(name: "eta", value: "\(asked)",
                                                   allowed: "only with sampler ddim (\(sampler.rawValue) draws no noise; leave eta out or give 0)")
            }
            eta = 0
        }
        try validate()
    }

    public func validate() throws {
        func check(_ ok: Bool, _ name: String, _ value: String, _ allowed: String) throws {
            if !ok { throw AnimationError.invalidOption(name: name, value: value, allowed: allowed) }
        }
        try check(Self.frameRange.contains(frames), "frames", "\(frames)", "\(Self.frameRange.lowerBound)…\(Self.frameRange.upperBound)")
        try check(Self.stepRange.contains(steps), "steps", "\(steps)", "\(Self.stepRange.lowerBound)…\(Self.stepRange.upperBound)")
        // 'uniform' spacing (1 + multiples of 1000/steps) runs past the last training timestep
        // for some counts (e.g. 3, 300); the reference fails there too. Refuse them up front.
        let visited = DDIMSchedule.selectTimesteps(steps: steps, spacing: timestepSpacing, trainingTimesteps: Self.trainingTimesteps)
        try check(visited.allSatisfy { (0..<Self.trainingTimesteps).contains($0) }, "steps", "\(steps)",
                  "a count whose '\(timestepSpacing.rawValue)' timesteps stay below \(Self.trainingTimesteps) (e.g. 50; not 3 or 300)")
        try check(guidanceScale.isFinite && Self.guidanceRange.contains(guidanceScale), "cfg-scale", "\(guidanceScale)", "0…50")
        if let s = imageGuidanceScale {
            try check(s.isFinite && Self.guidanceRange.contains(s), "image-cfg-scale", "\(s)", "0…50")
        }
        try check(eta.isFinite && Self.etaRange.contains(eta), "eta", "\(eta)", "0…10")
        try check(Self.frameStrideRange.contains(frameStride), "frame-stride/fps", "\(frameStride)", "1…1000")
        try check(guidanceRescale.isFinite && (0...1).contains(guidanceRescale), "guidance-rescale", "\(guidanceRescale)", "0…1")
        try check(sampler == .ddim || eta == 0, "eta", "\(eta)", "0 with sampler \(sampler.rawValue) (only DDIM draws noise)")
        try check(Self.cacheIntervalRange.contains(cacheInterval), "cache-interval", "\(cacheInterval)",
                  "\(Self.cacheIntervalRange.lowerBound)…\(Self.cacheIntervalRange.upperBound) (0 or 1: off)")
        try check(outputFPS > 0, "output fps", "\(outputFPS)", "a positive number")
    }

    /// Whether steps reuse a cached deep UNet feature (`cacheInterval` 2 or more).
    public var cachesSteps: Bool { cacheInterval > 1 }

    /// Frames in the written clip (`loop` drops the last generated frame).
    public var outputFrameCount: Int { mode == .loop ? frames - 1 : frames }
}

extension DDIMTimestepSpacing {
    public init(_ spacing: PresetTimestepSpacing) {
        switch spacing {
        case .uniform: self = .uniform
        case .uniformTrailing: self = .uniformTrailing
        }
    }
}
