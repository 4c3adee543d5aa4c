import TensorCore
import TensorStorage

/// A multistep solver run, one step at a time, with the same shape as `DDIMLoop`: `nextStep`
/// says which timestep the network is asked about, `advance` takes the step. It keeps the last
/// two x̂₀ (and, for UniPC, the previous sample for the corrector). No noise is drawn.
public struct MultistepLoop: Sendable {
    public let solver: MultistepSolver
    /// The current latent: x_T before the first step, the sample after the last.
    public private(set) var x: Tensor
    /// x̂₀ of the latest step (after the dynamic rescale), nil before the first step.
    public var predictedX0: Tensor? { history.last }
    public private(set) var completedSteps: Int = 0
    /// x̂₀ of the previous steps, oldest first (at most two).
    private var history: [Tensor] = []
    /// UniPC: the sample its last predictor started from, and that predictor's order.
    private var lastSample: Tensor?
    private var lastOrder = 1

    public init(solver: MultistepSolver, initialNoise: Tensor) throws {
        _ = try DDIMSampler.batchLayout(initialNoise.shape, needsTwo: solver.guidance.usesRescale)
        self.solver = solver
        x = initialNoise
    }

    public var totalSteps: Int { solver.count }
    public var isFinished: Bool { completedSteps >= totalSteps }

    /// The step that comes next (its timestep is what the network is evaluated at), nil when finished.
    public var nextStep: DDIMStepCoefficients? {
        isFinished ? nil : try? solver.step(completedSteps)
    }

    /// Takes the next step with the network outputs at the current x (guidance applied here).
    @discardableResult
    public mutating func advance(with prediction: NoisePrediction) throws -> DDIMProgress {
        try DDIMSampler.requireShape(prediction.conditional.shape, "conditional output", like: x.shape)
        return try advance(modelOutput: solver.guidedOutput(prediction))
    }

    /// Takes the next step with the guided model output (ε or v) at the current x.
    @discardableResult
    public mutating func advance(modelOutput: Tensor) throws -> DDIMProgress {
        guard let coefficients = nextStep else { throw DDIMSamplerError.finished }
        let i = completedSteps
        let x0 = try solver.predictedX0(modelOutput: modelOutput, x: x, step: i)
        switch solver.method {
        case .dpmpp2m:
            let order = solver.dpmOrder(step: i, history: history.count)
            x = solver.dpmUpdate(x, x0: x0, previous: history.last, step: i, order: order)
        case .unipc:
            if let lastSample, i > 0 {
                x = solver.uniCorrector(lastSample: lastSample, x0: x0, history: history, step: i, order: lastOrder)
            }
            let order = solver.uniPCOrder(step: i, history: history.count)
            lastSample = x
            lastOrder = order
            x = solver.uniPredictor(x, x0: x0, previous: history.last, step: i, order: order)
        }
        history.append(x0)
        if history.count > 2 { history.removeFirst() }
        completedSteps += 1
        return DDIMProgress(completedSteps: completedSteps, totalSteps: totalSteps,
                            timestep: coefficients.timestep, index: coefficients.index)
    }

    /// Asks `predict` for the outputs at the current x and takes the next step; nil when finished.
    public mutating func step(using predict: (Tensor, DDIMStepCoefficients) throws -> NoisePrediction) throws -> DDIMProgress? {
        guard let coefficients = nextStep else { return nil }
        return try advance(with: predict(x, coefficients))
    }
}

extension MultistepSolver {
    /// A step-by-step run from the initial latent x_T.
    public func makeLoop(from initialNoise: Tensor) throws -> MultistepLoop {
        try MultistepLoop(solver: self, initialNoise: initialNoise)
    }
}
