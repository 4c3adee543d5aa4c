import DiffusionPipeline
import TensorCore
import TensorStorage
import Testing

/// The two tiny reference runs: tiny-256 (ε, uniform, no rescale) and tiny-512 (v, zero-terminal
/// SNR, trailing, guidance rescale 0.7, dynamic rescale 0.7); 5 steps, eta 1, CFG 7.5.
struct GoldenRun: CustomTestStringConvertible, Sendable {
    let name: String
    let zsnr: Bool
    let parameterization: Parameterization
    let spacing: DDIMTimestepSpacing
    let guidanceRescale: Double
    let dynamicRescaleBase: Double?

    var testDescription: String { name }

    /// The run's golden tensors: the case's `sampling.safetensors` in Tests/Fixtures/reference.
    func fixture() throws -> Fixture { try Fixture(reference: name, "sampling.safetensors") }

    static let all = [
        GoldenRun(name: "tiny-256", zsnr: false, parameterization: .eps,
                  spacing: .uniform, guidanceRescale: 0, dynamicRescaleBase: nil),
        GoldenRun(name: "tiny-512", zsnr: true, parameterization: .v,
                  spacing: .uniformTrailing, guidanceRescale: 0.7, dynamicRescaleBase: 0.7),
    ]

    func sampler() throws -> DDIMSampler {
        let noise = try NoiseSchedule(rescaleZeroTerminalSNR: zsnr, parameterization: parameterization)
        let ddim = try DDIMSchedule(schedule: noise, steps: 5, spacing: spacing, eta: 1, dynamicRescaleBase: dynamicRescaleBase)
        return try DDIMSampler(schedule: ddim, parameterization: parameterization,
                           guidance: try GuidanceConfig(scale: 7.5, rescale: guidanceRescale))
    }
}

/// Replays the noise a reference run exported (`step_noise[i]` for step i).
struct GoldenNoise: NoiseSource {
    let fixture: Fixture
    var next = 0

    mutating func fillStandardNormal(_ buffer: UnsafeMutableBufferPointer<Float>, shape: [Int]) throws {
        let draw = try fixture.slice("step_noise", next)
        try #require(draw.shape == shape)
        draw.withUnsafeBufferPointer { _ = buffer.update(fromContentsOf: $0) }
        next += 1
    }
}

@Suite("DDIM step math against the tiny sampling goldens")
struct DDIMSamplerTests {
    /// Per-step tolerance (max-abs error / max-abs value). Everything but x_prev is bit-exact; x_prev
    /// differs by about one float32 ulp where the reference's torch float32 `sqrt` (MKL VML, not
    /// correctly rounded) rounds √a_prev or √(1−a_prev−σ²) differently from IEEE sqrt.
    static let stepTolerance = 1e-5

    @Test("every step from the golden inputs: CFG output, e_t, pred_x0, x_prev", arguments: GoldenRun.all)
    func everyStep(run: GoldenRun) throws {
        let g = try run.fixture()
        let sampler = try run.sampler()
        #expect(sampler.schedule.steps.map(\.timestep) == (try g.ints("timesteps")))
        for i in 0..<5 {
            let index = 4 - i
            let x = try g.slice("step.x", i)
            let prediction = NoisePrediction(conditional: try g.slice("step.out_cond", i),
                                             unconditional: try g.slice("step.out_uncond", i))
            let noise = try g.slice("step_noise", i)
            let goldenCFG = try g.slice("step.model_out_cfg", i)
            let goldenE = try g.slice("step.e_t", i)
            let goldenX0 = try g.slice("step.pred_x0", i)
            let goldenNext = try g.slice("step.x_prev", i)

            // Each stage from the golden output of the stage before.
            let cfg = try sampler.guidedOutput(prediction)
            let (e, x0) = try sampler.epsilonAndPredictedX0(modelOutput: goldenCFG, x: x, index: index)
            let next = try sampler.previousSample(predictedX0: goldenX0, epsilon: goldenE, noise: noise, index: index)
            #expect(relativeError(cfg, goldenCFG) <= Self.stepTolerance)
            #expect(relativeError(e, goldenE) <= Self.stepTolerance)
            #expect(relativeError(x0, goldenX0) <= Self.stepTolerance)
            #expect(relativeError(next, goldenNext) <= Self.stepTolerance)
            // Stages other than the final update are bit-exact.
            #expect(mismatches(cfg, goldenCFG) == 0)
            #expect(mismatches(e, goldenE) == 0)
            #expect(mismatches(x0, goldenX0) == 0)

            // The fused in-place step agrees with the stages bit for bit.
            var fused = x
            var fusedX0: Tensor? = Tensor(zeros: x.shape)
            try sampler.step(&fused, prediction: prediction, noise: noise, index: index, predictedX0: &fusedX0)
            let staged = try sampler.previousSample(predictedX0: x0, epsilon: e, noise: noise, index: index)
            #expect(mismatches(fused, staged) == 0)
            #expect(mismatches(try #require(fusedX0), x0) == 0)
            #expect(relativeError(fused, goldenNext) <= Self.stepTolerance)
            // In units of the float32 spacing at the largest |x_prev|.
            let scale = goldenNext.scalars.map { abs($0) }.max()!.ulp
            let worst = zip(fused.scalars, goldenNext.scalars).map { abs($0 - $1) }.max()! / scale
            print("\(run.name) step \(i) (t=\(sampler.schedule.coefficients(at: index).timestep)): x_prev rel err \(relativeError(fused, goldenNext)), \(mismatches(fused, goldenNext))/\(fused.count) elements differ, max |diff| = \(worst) ulp(max|x_prev|)")
            #expect(worst <= 1)
        }
    }

    @Test("the whole 5-step chain from x_T with golden UNet outputs reaches latent_final", arguments: GoldenRun.all)
    func chain(run: GoldenRun) throws {
        let g = try run.fixture()
        let sampler = try run.sampler()
        let xT = try g.tensor("x_T")
        #expect(mismatches(xT, try g.slice("step.x", 0)) == 0)
        var noise = GoldenNoise(fixture: g)
        var visited: [Int] = []
        var reports: [DDIMProgress] = []
        let final = try sampler.sample(from: xT, noise: &noise, predict: { x, step in
            let i = 4 - step.index
            visited.append(step.timestep)
            // The loop's x tracks the reference's step.x.
            #expect(relativeError(x, try g.slice("step.x", i)) <= 1e-5)
            return NoisePrediction(conditional: try g.slice("step.out_cond", i), unconditional: try g.slice("step.out_uncond", i))
        }, progress: { report in
            reports.append(report)
            return .proceed
        })
        #expect(noise.next == 5)
        #expect(visited == (try g.ints("timesteps")))
        #expect(reports.map(\.completedSteps) == [1, 2, 3, 4, 5] && reports.allSatisfy { $0.totalSteps == 5 })
        #expect(reports.last?.isFinished == true && reports.last?.index == 0)
        let reference = try g.tensor("latent_final")
        let error = relativeError(final, reference)
        print("\(run.name) chain: latent_final rel err \(error), \(mismatches(final, reference))/\(final.count) elements differ")
        #expect(error <= 1e-4)
    }

    @Test("no guidance uses the conditional output alone; eta 0 adds no noise")
    func noGuidanceDeterministic() throws {
        let schedule = try DDIMSchedule(schedule: .dynamiCrafter256(), steps: 10, spacing: .uniform, eta: 0)
        let sampler = try DDIMSampler(schedule: schedule, parameterization: .eps, guidance: .none)
        var rng = TorchRandom(seed: 5)
        let x = rng.randn([1, 4, 2, 4, 4])
        let eps = rng.randn([1, 4, 2, 4, 4])
        let prediction = NoisePrediction(conditional: eps, unconditional: nil)
        #expect(mismatches(try sampler.guidedOutput(prediction), eps) == 0)
        var a = x, b = x
        var none: Tensor? = nil
        try sampler.step(&a, prediction: prediction, noise: rng.randn(x.shape), index: 9, predictedX0: &none)
        try sampler.step(&b, prediction: prediction, noise: Tensor(zeros: x.shape), index: 9, predictedX0: &none)
        #expect(mismatches(a, b) == 0)
        // The update written out by hand (float32, reference order).
        let c = schedule.coefficients(at: 9)
        let x0 = (x.scalars[3] - c.sqrtOneMinusAlpha * eps.scalars[3]) / c.alpha.squareRoot()
        let expected = (c.alphaPrev.squareRoot() * x0 + c.directionCoefficient * eps.scalars[3]) + c.sigma * 0
        #expect(a.scalars[3] == expected)
    }

    @Test("guidance rescale statistics are per sample in a batch")
    func batchedRescale() throws {
        let run = GoldenRun.all[1]
        let g = try run.fixture()
        let sampler = try run.sampler()
        // Batch of two: the golden sample and the same sample scaled by 4. Scaling by a power of two
        // is exact in every operation and leaves σ_c/σ_mo unchanged, so the second CFG output is
        // exactly 4× the first — but only if each sample gets its own statistics.
        let c = try g.slice("step.out_cond", 2), u = try g.slice("step.out_uncond", 2)
        let batched = NoisePrediction(conditional: try Tensor(shape: [2] + c.shape.dropFirst(), scalars: c.scalars + c.scalars.map { $0 * 4 }),
                                      unconditional: try Tensor(shape: [2] + u.shape.dropFirst(), scalars: u.scalars + u.scalars.map { $0 * 4 }))
        let out = try sampler.guidedOutput(batched)
        let first = try Tensor(shape: c.shape, scalars: Array(out.scalars.prefix(c.count)))
        let second = try Tensor(shape: c.shape, scalars: Array(out.scalars.suffix(c.count)).map { $0 / 4 })
        #expect(mismatches(first, try g.slice("step.model_out_cfg", 2)) == 0)
        #expect(mismatches(second, try g.slice("step.model_out_cfg", 2)) == 0)
    }

    @Test("bad inputs throw instead of computing")
    func badInputs() throws {
        let sampler = try GoldenRun.all[1].sampler()
        let x = Tensor(zeros: [1, 4, 2, 2, 2])
        var y = x
        var none: Tensor? = nil
        #expect(throws: DDIMSamplerError.missingUnconditional(index: 0)) {
            try sampler.step(&y, prediction: NoisePrediction(conditional: x, unconditional: nil), noise: x, index: 0, predictedX0: &none)
        }
        #expect(throws: DDIMSamplerError.indexOutOfRange(5, count: 5)) {
            try sampler.step(&y, prediction: NoisePrediction(conditional: x, unconditional: x), noise: x, index: 5, predictedX0: &none)
        }
        #expect(throws: DDIMSamplerError.shapeMismatch(what: "noise", expected: [1, 4, 2, 2, 2], got: [1, 4, 2, 2, 1])) {
            try sampler.step(&y, prediction: NoisePrediction(conditional: x, unconditional: x),
                             noise: Tensor(zeros: [1, 4, 2, 2, 1]), index: 0, predictedX0: &none)
        }
        #expect(throws: DDIMSamplerError.self) {
            try sampler.step(&y, prediction: NoisePrediction(conditional: x, unconditional: Tensor(zeros: [2, 4, 2, 2, 2])),
                             noise: x, index: 0, predictedX0: &none)
        }
        #expect(throws: DDIMSamplerError.invalidLatentShape([1, 1])) {
            var z = Tensor(zeros: [1, 1])
            try sampler.step(&z, prediction: NoisePrediction(conditional: z, unconditional: z), noise: z, index: 0, predictedX0: &none)
        }
        #expect(throws: DDIMSamplerError.invalidLatentShape([])) {
            var z = Tensor(zeros: [])
            try sampler.step(&z, prediction: NoisePrediction(conditional: z, unconditional: z), noise: z, index: 0, predictedX0: &none)
        }
    }
}
