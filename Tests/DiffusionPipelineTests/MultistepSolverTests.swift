import DiffusionPipeline
import DynamiCrafterModel
import Foundation
import TensorCore
import TensorStorage
import Testing

/// DPM-Solver++(2M) and UniPC against diffusers' schedulers (Fixtures/solvers.safetensors,
/// written by scripts/fixtures/solver_fixtures.py): the same synthetic model drives both, and our
/// latent must match theirs at every step.
@Suite("multistep solvers")
struct MultistepSolverTests {
    struct Configuration: CustomStringConvertible {
        let name: String
        let parameterization: Parameterization
        let zeroSNR: Bool
        let spacing: DDIMTimestepSpacing
        let steps: Int
        let rescaleBase: Double?
        var description: String { name }
    }

    static let configurations = [
        Configuration(name: "eps256-10", parameterization: .eps, zeroSNR: false, spacing: .uniform, steps: 10, rescaleBase: nil),
        Configuration(name: "eps256-25", parameterization: .eps, zeroSNR: false, spacing: .uniform, steps: 25, rescaleBase: nil),
        Configuration(name: "v256-20", parameterization: .v, zeroSNR: false, spacing: .uniform, steps: 20, rescaleBase: nil),
        Configuration(name: "v512-10", parameterization: .v, zeroSNR: true, spacing: .uniformTrailing, steps: 10, rescaleBase: nil),
        Configuration(name: "v512-25", parameterization: .v, zeroSNR: true, spacing: .uniformTrailing, steps: 25, rescaleBase: nil),
        Configuration(name: "v512dr-20", parameterization: .v, zeroSNR: true, spacing: .uniformTrailing, steps: 20, rescaleBase: 0.7),
    ]

    /// The generator's model: tanh(0.8·x) + (0.5·t/1000)·w.
    static func syntheticOutput(_ x: Tensor, timestep: Int, w: Tensor) throws -> Tensor {
        let c = Float(0.5 * Double(timestep) / 1000.0)
        let ws = w.scalars
        return try Tensor(shape: x.shape, scalars: x.scalars.enumerated().map { i, v in tanh(Float(0.8) * v) + c * ws[i] })
    }

    static func solver(_ method: MultistepSolver.Method, _ c: Configuration,
                       guidance: GuidanceConfig = .none) throws -> MultistepSolver {
        let noise = try NoiseSchedule(rescaleZeroTerminalSNR: c.zeroSNR, parameterization: c.parameterization)
        let schedule = try DDIMSchedule(schedule: noise, steps: c.steps, spacing: c.spacing, eta: 0,
                                        dynamicRescaleBase: c.rescaleBase)
        return try MultistepSolver(method: method, schedule: schedule, parameterization: c.parameterization, guidance: guidance)
    }

    @Test("the trajectory matches diffusers within 1e-5 relative at every step",
          arguments: MultistepSolver.Method.allCases, configurations)
    func matchesDiffusers(method: MultistepSolver.Method, configuration c: Configuration) throws {
        let fixture = try Fixture("solvers.safetensors")
        let key = "\(method.rawValue).\(c.name)"
        let solver = try Self.solver(method, c)
        #expect(solver.schedule.visitingOrder == (try fixture.ints("\(key).timesteps")))
        // The generator fed diffusers the reference's ᾱ; ours must be those.
        let abar = try fixture.floats(c.zeroSNR ? "alphas_cumprod_512" : "alphas_cumprod_256")
        let ours = solver.schedule.noiseSchedule.alphasCumprod
        #expect(zip(ours, abar).allSatisfy { ulpDistance($0, $1) <= 1 || abs($0 - $1) < 1e-12 })

        let w = try fixture.tensor("w")
        var loop = try solver.makeLoop(from: fixture.tensor("x_T"))
        var worst = 0.0
        var i = 0
        while let step = loop.nextStep {
            try loop.advance(modelOutput: Self.syntheticOutput(loop.x, timestep: step.timestep, w: w))
            i += 1
            worst = max(worst, relativeError(loop.x, try fixture.slice("\(key).x", i)))
        }
        #expect(i == c.steps)
        print("\(key): max relative error over \(i) steps \(String(format: "%.2e", worst))")
        #expect(worst <= 1e-5, "\(key): \(worst)")
    }

    @Test("guidance is applied as DDIM applies it, before the solver step")
    func guidance() throws {
        let c = Self.configurations[5]
        let guidance = try GuidanceConfig(scale: 7.5, rescale: 0.7)
        let guided = try Self.solver(.unipc, c, guidance: guidance)
        let plain = try Self.solver(.unipc, c)
        var rng = TorchRandom(seed: 3)
        let xT = rng.randn([1, 4, 2, 4, 4])
        let ddim = try DDIMSampler(schedule: guided.schedule, parameterization: .v, guidance: guidance)
        var a = try guided.makeLoop(from: xT)
        var b = try plain.makeLoop(from: xT)
        while let step = a.nextStep {
            let prediction = try LinearPredictor().predictNoise(a.x, step: step)
            try a.advance(with: prediction)
            try b.advance(modelOutput: ddim.guidedOutput(prediction))
            #expect(mismatches(a.x, b.x) == 0)
        }
        #expect(a.completedSteps == c.steps)
    }

    @Test("the dynamic rescale multiplies x̂₀ by DDIM's factor at the same index")
    func dynamicRescale() throws {
        let c = Self.configurations[5]
        let solver = try Self.solver(.dpmpp2m, c)
        var rng = TorchRandom(seed: 4)
        let x = rng.randn([1, 4, 2, 4, 4])
        let v = rng.randn([1, 4, 2, 4, 4])
        let plainSchedule = try DDIMSchedule(schedule: solver.schedule.noiseSchedule, steps: c.steps, spacing: c.spacing, eta: 0)
        let plain = try MultistepSolver(method: .dpmpp2m, schedule: plainSchedule, parameterization: .v, guidance: .none)
        for i in 0..<c.steps {
            let factor = try #require(try solver.step(i).rescaleFactor)
            let scaled = try solver.predictedX0(modelOutput: v, x: x, step: i).scalars
            let unscaled = try plain.predictedX0(modelOutput: v, x: x, step: i).scalars
            for k in scaled.indices { #expect(abs(scaled[k] - unscaled[k] * factor) <= 1e-6 * max(1, abs(scaled[k]))) }
            if i == c.steps - 1 { #expect(factor == 1) }
        }
    }

    @Test("an ε-model on a zero-terminal-SNR schedule is refused, as by DDIM")
    func epsilonAtZeroSNR() throws {
        let c = Configuration(name: "eps512", parameterization: .eps, zeroSNR: true, spacing: .uniformTrailing,
                              steps: 10, rescaleBase: nil)
        #expect(throws: DiffusionScheduleError.self) { _ = try Self.solver(.dpmpp2m, c) }
    }

    @Test("the loop reports progress per step and refuses to go past the end")
    func loopBookkeeping() throws {
        let solver = try Self.solver(.dpmpp2m, Self.configurations[3])
        var rng = TorchRandom(seed: 5)
        var loop = try solver.makeLoop(from: rng.randn([1, 4, 2, 4, 4]))
        var seen: [Int] = []
        while let report = try loop.step(using: { x, step in try LinearPredictor().predictNoise(x, step: step) }) {
            seen.append(report.timestep)
            #expect(report.totalSteps == 10 && loop.predictedX0 != nil)
        }
        #expect(seen == solver.schedule.visitingOrder && loop.isFinished)
        #expect(throws: DDIMSamplerError.finished) { try loop.advance(modelOutput: loop.x) }
    }
}

@Suite("sampler options")
struct SamplerOptionTests {
    @Test("the sampler defaults to DDIM; a solver runs at eta 0, refuses any other eta, and unknown names are refused")
    func resolution() throws {
        let defaults = Preset.p256.sampling
        let plain = try AnimationSettings(options: AnimationOptions(), defaults: defaults)
        #expect(plain.sampler == .ddim && plain.eta == 1)
        var options = AnimationOptions()
        options.sampler = .unipc
        let solver = try AnimationSettings(options: options, defaults: defaults)
        #expect(solver.sampler == .unipc && solver.eta == 0)
        options.eta = 0
        #expect(try AnimationSettings(options: options, defaults: defaults).eta == 0)
        options.eta = 1
        #expect {
            _ = try AnimationSettings(options: options, defaults: defaults)
        } throws: { error in
            guard case AnimationError.invalidOption(let name, _, let allowed) = error else { return false }
            return name == "eta" && allowed.contains("ddim")
        }
        #expect(try SamplerKind(named: "dpmpp-2m") == .dpmpp2m)
        #expect(throws: AnimationError.invalidOption(name: "sampler", value: "euler", allowed: "ddim, dpmpp-2m, unipc")) {
            _ = try SamplerKind(named: "euler")
        }
    }
}
