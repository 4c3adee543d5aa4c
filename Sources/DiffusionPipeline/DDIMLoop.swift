import TensorCore
import TensorStorage

/// A DDIM run that advances one step at a time, so that callers see progress, can preview x̂₀,
/// and can stop between any two steps. The network call stays outside: each step asks a
/// predictor (closure or `NoisePredictor`) for the outputs at the current x.
///
/// ```swift
/// var loop = try sampler.makeLoop(from: xT, noise: TorchRandom(seed: 123))
/// while let progress = try loop.step(using: unet) {
///     report(progress)                       // completedSteps / totalSteps
///     if cancelled { break }
/// }
/// let latent = loop.x
/// ```
///
/// The loop owns two reusable buffers (the step noise and, if requested, x̂₀); a step allocates
/// nothing else, and x is updated in place.
public struct DDIMLoop<Source: NoiseSource> {
    public let sampler: DDIMSampler
    /// The current latent: x_T before the first step, the sample after the last.
    public private(set) var x: Tensor
    /// x̂₀ of the latest step (nil before the first step or when not kept).
    public private(set) var predictedX0: Tensor?
    public private(set) var completedSteps: Int = 0
    /// The noise source; it advances by one draw of x's shape per step.
    public var noiseSource: Source
    private var noise: Tensor
    private let keepsPredictedX0: Bool

    public init(sampler: DDIMSampler, initialNoise: Tensor, noiseSource: Source, keepsPredictedX0: Bool = false) throws {
        _ = try DDIMSampler.batchLayout(initialNoise.shape, needsTwo: sampler.guidance.usesRescale)
        self.sampler = sampler
        x = initialNoise
        self.noiseSource = noiseSource
        noise = Tensor(zeros: initialNoise.shape)
        self.keepsPredictedX0 = keepsPredictedX0
    }

    public var totalSteps: Int { sampler.schedule.count }
    public var isFinished: Bool { completedSteps >= totalSteps }

    /// The coefficients (timestep, DDIM index, …) of the step that comes next, nil when finished.
    public var nextStep: DDIMStepCoefficients? {
        isFinished ? nil : sampler.schedule.coefficients(at: totalSteps - 1 - completedSteps)
    }

    /// Takes the next step with the network outputs `prediction`, computed at the current `x`
    /// for `nextStep`.
    @discardableResult
    public mutating func advance(with prediction: NoisePrediction) throws -> DDIMProgress {
        guard let coefficients = nextStep else { throw DDIMSamplerError.finished }
        try noiseSource.fillStandardNormal(&noise)
        if keepsPredictedX0, predictedX0 == nil { predictedX0 = Tensor(zeros: x.shape) }
        try sampler.step(&x, prediction: prediction, noise: noise, index: coefficients.index, predictedX0: &predictedX0)
        completedSteps += 1
        return DDIMProgress(completedSteps: completedSteps, totalSteps: totalSteps,
                            timestep: coefficients.timestep, index: coefficients.index)
    }

    /// Asks `predict` for the outputs at the current x and takes the next step; nil when the loop
    /// had already finished. Errors thrown by `predict` propagate unchanged (use them to cancel).
    public mutating func step(using predict: (Tensor, DDIMStepCoefficients) throws -> NoisePrediction) throws -> DDIMProgress? {
        guard let coefficients = nextStep else { return nil }
        let prediction = try predict(x, coefficients)
        return try advance(with: prediction)
    }

    /// `step(using:)` with a `NoisePredictor`.
    public mutating func step(using predictor: some NoisePredictor) throws -> DDIMProgress? {
        try step { x, coefficients in try predictor.predictNoise(x, step: coefficients) }
    }
}

extension DDIMSampler {
    /// A step-by-step run from the initial latent x_T.
    public func makeLoop<Source: NoiseSource>(from initialNoise: Tensor, noise: Source,
                                              keepsPredictedX0: Bool = false) throws -> DDIMLoop<Source> {
        try DDIMLoop(sampler: self, initialNoise: initialNoise, noiseSource: noise, keepsPredictedX0: keepsPredictedX0)
    }

    /// The whole denoising loop from x_T (`ddim_sampling`): for each DDIM timestep from the
    /// largest down, `predict` gives the network outputs at the current x, the step is applied,
    /// and `progress` is told; returning `.stop` (or throwing) ends the run, `.stop` with
    /// `DDIMSamplerError.cancelled`. `noise` advances by one draw per step.
    public func sample<Source: NoiseSource>(
        from initialNoise: Tensor, noise: inout Source,
        predict: (Tensor, DDIMStepCoefficients) throws -> NoisePrediction,
        progress: (DDIMProgress) throws -> DDIMLoopControl = { _ in .proceed }
    ) throws -> Tensor {
        var loop = try makeLoop(from: initialNoise, noise: noise)
        defer { noise = loop.noiseSource }
        while let report = try loop.step(using: predict) {
            if try progress(report) == .stop, !report.isFinished {
                throw DDIMSamplerError.cancelled(completedSteps: report.completedSteps)
            }
        }
        return loop.x
    }

    /// `sample(from:noise:predict:progress:)` with a `NoisePredictor`.
    public func sample<Source: NoiseSource>(
        from initialNoise: Tensor, noise: inout Source, predictor: some NoisePredictor,
        progress: (DDIMProgress) throws -> DDIMLoopControl = { _ in .proceed }
    ) throws -> Tensor {
        try sample(from: initialNoise, noise: &noise,
                   predict: { x, c in try predictor.predictNoise(x, step: c) }, progress: progress)
    }
}

extension DDIMLoop: Sendable where Source: Sendable {}
