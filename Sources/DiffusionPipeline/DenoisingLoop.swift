import TensorCore
import TensorStorage

/// The pipeline's denoising run, whichever sampler takes the steps: DDIM (one noise draw per
/// step from the source) or a multistep solver (no draws; the source is handed back untouched).
/// Exactly one of the two loops is set; both are mutated in place through optional chaining, so
/// DDIM's latent stays uniquely referenced and its step keeps allocating nothing.
struct DenoisingLoop<Source: NoiseSource> {
    private var ddim: DDIMLoop<Source>?
    private let ddimSampler: DDIMSampler?
    private var solver: MultistepLoop?
    private let untouchedSource: Source

    init(sampler kind: SamplerKind, schedule: DDIMSchedule, parameterization: Parameterization,
         guidance: GuidanceConfig, initialNoise: Tensor, noise: Source, keepsPredictedX0: Bool) throws {
        untouchedSource = noise
        switch kind {
        case .ddim:
            let sampler = try DDIMSampler(schedule: schedule, parameterization: parameterization, guidance: guidance)
            ddimSampler = sampler
            ddim = try sampler.makeLoop(from: initialNoise, noise: noise, keepsPredictedX0: keepsPredictedX0)
        case .dpmpp2m, .unipc:
            let method: MultistepSolver.Method = kind == .unipc ? .unipc : .dpmpp2m
            ddimSampler = nil
            solver = try MultistepSolver(method: method, schedule: schedule, parameterization: parameterization,
                                         guidance: guidance).makeLoop(from: initialNoise)
        }
    }

    /// The DDIM loop's sampler (for its trace of ε), nil for a solver.
    var ddimStepSampler: DDIMSampler? { ddimSampler }

    var x: Tensor { ddim?.x ?? solver?.x ?? Tensor(zeros: [0]) }

    var nextStep: DDIMStepCoefficients? { ddim?.nextStep ?? solver?.nextStep }

    /// Steps taken so far.
    var completedSteps: Int { ddim?.completedSteps ?? solver?.completedSteps ?? 0 }

    var predictedX0: Tensor? { ddim?.predictedX0 ?? solver?.predictedX0 }

    var noiseSource: Source { ddim?.noiseSource ?? untouchedSource }

    /// The guided model output of a prediction (for traces).
    func guidedOutput(_ prediction: NoisePrediction) throws -> Tensor {
        if let ddimSampler { return try ddimSampler.guidedOutput(prediction) }
        guard let solver else { throw DDIMSamplerError.finished }
        return try solver.solver.guidedOutput(prediction)
    }

    mutating func advance(with prediction: NoisePrediction) throws -> DDIMProgress {
        if let report = try ddim?.advance(with: prediction) { return report }
        guard let report = try solver?.advance(with: prediction) else { throw DDIMSamplerError.finished }
        return report
    }
}
