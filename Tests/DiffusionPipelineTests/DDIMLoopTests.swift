import DiffusionPipeline
import TensorCore
import TensorStorage
import Testing

/// A stand-in network: ε = 0.1·x + timestep/1000 (deterministic, cheap).
struct LinearPredictor: NoisePredictor {
    func predictNoise(_ x: Tensor, step: DDIMStepCoefficients) throws -> NoisePrediction {
        let t = Float(step.timestep) / 1000
        let cond = try Tensor(shape: x.shape, scalars: x.scalars.map { 0.1 * $0 + t })
        let uncond = try Tensor(shape: x.shape, scalars: x.scalars.map { 0.05 * $0 })
        return NoisePrediction(conditional: cond, unconditional: uncond)
    }
}

struct StopRequested: Error {}

@Suite("The step-by-step DDIM loop")
struct DDIMLoopTests {
    func sampler(steps: Int = 6) throws -> DDIMSampler {
        let ddim = try DDIMSchedule(schedule: .dynamiCrafter512(), steps: steps, spacing: .uniformTrailing, eta: 1, dynamicRescaleBase: 0.7)
        return try DDIMSampler(schedule: ddim, parameterization: .v, guidance: try GuidanceConfig(scale: 7.5, rescale: 0.7))
    }

    @Test("stepping by hand equals sample(), and the noise source advances one draw per step")
    func manualEqualsSample() throws {
        let sampler = try sampler()
        var rng = TorchRandom(seed: 42)
        let xT = rng.randn([1, 4, 3, 4, 4])

        var noise = rng
        let sampled = try sampler.sample(from: xT, noise: &noise, predictor: LinearPredictor())

        var loop = try sampler.makeLoop(from: xT, noise: rng, keepsPredictedX0: true)
        #expect(loop.nextStep?.timestep == 999 && loop.totalSteps == 6)
        var seen: [Int] = []
        while let progress = try loop.step(using: LinearPredictor()) {
            seen.append(progress.timestep)
            #expect(loop.predictedX0?.shape == xT.shape)
        }
        #expect(loop.isFinished && loop.nextStep == nil && loop.completedSteps == 6)
        #expect(seen == sampler.schedule.visitingOrder)
        #expect(mismatches(loop.x, sampled) == 0)
        // Both consumed exactly six draws of the latent's shape.
        var expected = rng
        for _ in 0..<6 { _ = expected.randn(xT.shape) }
        #expect(loop.noiseSource == expected && noise == expected)
        #expect(throws: DDIMSamplerError.finished) {
            try loop.advance(with: NoisePrediction(conditional: xT, unconditional: xT))
        }
        #expect(try loop.step(using: LinearPredictor()) == nil)
    }

    @Test("progress can stop the run; predictor errors propagate")
    func cancellation() throws {
        let sampler = try sampler()
        var seeded = TorchRandom(seed: 1)
        let xT = seeded.randn([1, 4, 2, 4, 4])
        var rng = TorchRandom(seed: 2)
        var calls = 0
        #expect(throws: DDIMSamplerError.cancelled(completedSteps: 2)) {
            try sampler.sample(from: xT, noise: &rng, predictor: LinearPredictor()) { progress in
                calls += 1
                return progress.completedSteps == 2 ? .stop : .proceed
            }
        }
        #expect(calls == 2)
        // The caller's generator advanced by the two steps taken.
        var expected = TorchRandom(seed: 2)
        _ = expected.randn(xT.shape)
        _ = expected.randn(xT.shape)
        #expect(rng == expected)

        #expect(throws: StopRequested.self) {
            try sampler.sample(from: xT, noise: &rng, predict: { _, step in
                if step.index == 3 { throw StopRequested() }
                return try LinearPredictor().predictNoise(xT, step: step)
            })
        }
        // Stopping after the last step is not a cancellation.
        let done = try sampler.sample(from: xT, noise: &rng, predictor: LinearPredictor()) { $0.isFinished ? .stop : .proceed }
        #expect(done.shape == xT.shape)
    }

    @Test("a step allocates no new latent: x is updated in place")
    func inPlace() throws {
        let sampler = try sampler()
        var seeded = TorchRandom(seed: 3)
        var x = seeded.randn([1, 4, 2, 8, 8])
        let before = x.withUnsafeBufferPointer { $0.baseAddress }
        let prediction = try LinearPredictor().predictNoise(x, step: sampler.schedule.coefficients(at: 5))
        var x0: Tensor? = Tensor(zeros: x.shape)
        let x0Before = x0!.withUnsafeBufferPointer { $0.baseAddress }
        try sampler.step(&x, prediction: prediction, noise: Tensor(zeros: x.shape), index: 5, predictedX0: &x0)
        #expect(x.withUnsafeBufferPointer { $0.baseAddress } == before)
        #expect(x0!.withUnsafeBufferPointer { $0.baseAddress } == x0Before)
    }

    @Test("the production latent [1, 4, 16, 32, 32] runs a 50-step schedule's step")
    func productionShape() throws {
        let sampler = try sampler(steps: 50)
        var rng = TorchRandom(seed: 123)
        let xT = rng.randn([1, 4, 16, 32, 32])
        var loop = try sampler.makeLoop(from: xT, noise: rng)
        let progress = try loop.step { x, _ in NoisePrediction(conditional: x, unconditional: x) }
        #expect(progress?.completedSteps == 1 && progress?.totalSteps == 50)
        let finite = loop.x.scalars.allSatisfy { $0.isFinite }
        #expect(finite)
    }
}
