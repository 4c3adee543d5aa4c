import DiffusionPipeline
import Testing

@Suite("DDIM timesteps and per-index coefficients")
struct DDIMScheduleTests {
    let golden: Fixture
    let plain = NoiseSchedule.dynamiCrafter256()
    let zsnr = NoiseSchedule.dynamiCrafter512()

    init() throws { golden = try Fixture("schedules.safetensors") }

    static let configurations: [(Bool, DDIMTimestepSpacing, Int, Int)] = {
        var all: [(Bool, DDIMTimestepSpacing, Int, Int)] = []
        for z in [false, true] {
            for spacing in DDIMTimestepSpacing.allCases {
                for steps in [5, 10, 25, 50] {
                    for eta in [0, 1] { all.append((z, spacing, steps, eta)) }
                }
            }
        }
        return all
    }()

    @Test("timesteps, alphas, alphas_prev, sigmas, sqrt(1-alphas) and scales are bit-exact", arguments: configurations)
    func coefficients(zsnrSchedule: Bool, spacing: DDIMTimestepSpacing, steps: Int, eta: Int) throws {
        let schedule = zsnrSchedule ? zsnr : plain
        let ddim = try DDIMSchedule(schedule: schedule, steps: steps, spacing: spacing, eta: Double(eta),
                                    dynamicRescaleBase: zsnrSchedule ? 0.7 : nil)
        let prefix = "ddim.\(zsnrSchedule ? "zsnr" : "plain").\(spacing.rawValue).\(steps).eta\(eta)."
        #expect(ddim.timesteps == (try golden.ints("ddim.\(spacing.rawValue).\(steps).timesteps")))
        #expect(ddim.alphas == (try golden.floats(prefix + "alphas")))
        #expect(ddim.alphasPrev == (try golden.doubles(prefix + "alphas_prev")))
        #expect(ddim.sigmas == (try golden.doubles(prefix + "sigmas")))
        #expect(ddim.sqrtOneMinusAlphas == (try golden.floats(prefix + "sqrt_one_minus_alphas")))
        if zsnrSchedule {
            #expect(ddim.scales == (try golden.floats(prefix + "scale_arr")))
            #expect(ddim.scalesPrev == (try golden.floats(prefix + "scale_arr_prev")))
        } else {
            #expect(ddim.scales == nil && ddim.scalesPrev == nil)
        }
        // The float32 step scalars are the float32 roundings of these.
        for k in 0..<ddim.count {
            let c = ddim.coefficients(at: k)
            #expect(c.timestep == ddim.timesteps[k] && c.index == k)
            #expect(c.alphaPrev == Float(ddim.alphasPrev[k]) && c.sigma == Float(ddim.sigmas[k]))
            #expect(c.sqrtAlphaCumprod == schedule.sqrtAlphasCumprod[c.timestep])
        }
        #expect(ddim.visitingOrder == ddim.timesteps.reversed())
        #expect(ddim.steps.map(\.index) == Array((0..<ddim.count).reversed()))
    }

    @Test("the tiny goldens' per-step scalars equal our coefficients bit for bit")
    func samplingScalars() throws {
        for (caseName, schedule, spacing, base) in [("tiny-256", plain, DDIMTimestepSpacing.uniform, nil as Double?),
                                                    ("tiny-512", zsnr, .uniformTrailing, 0.7)] {
            let g = try Fixture(reference: caseName, "sampling.safetensors")
            let ddim = try DDIMSchedule(schedule: schedule, steps: 5, spacing: spacing, eta: 1, dynamicRescaleBase: base)
            let steps = ddim.steps
            #expect(steps.map(\.timestep) == (try g.ints("timesteps")))
            #expect(steps.map(\.alpha) == (try g.floats("step.a_t")))
            #expect(steps.map(\.alphaPrev) == (try g.floats("step.a_prev")))
            #expect(steps.map(\.sigma) == (try g.floats("step.sigma_t")))
            #expect(steps.map(\.sqrtOneMinusAlpha) == (try g.floats("step.sqrt_one_minus_at")))
            if base != nil {
                #expect(steps.map { $0.scale! } == (try g.floats("step.scale_t")))
                #expect(steps.map { $0.scalePrev! } == (try g.floats("step.prev_scale_t")))
            }
        }
    }

    @Test("timestep selection equals NumPy's make_ddim_timesteps for every step count 1...1000")
    func everyStepCount() throws {
        let summary = try Fixture("ddim_timesteps.safetensors").ints("summary")
        for (row, spacing) in [DDIMTimestepSpacing.uniform, .uniformTrailing].enumerated() {
            for steps in 1...1000 {
                let ts = DDIMSchedule.selectTimesteps(steps: steps, spacing: spacing, trainingTimesteps: 1000)
                let weighted = ts.enumerated().reduce(0) { $0 + ($1.offset + 1) * $1.element }
                let ours = [ts.count, ts.first!, ts.last!, ts.reduce(0, +), weighted]
                let base = (row * 1000 + steps - 1) * 5
                #expect(ours == Array(summary[base..<(base + 5)]), "\(spacing) \(steps)")
                // Validation accepts exactly the counts whose timesteps stay inside the schedule.
                let valid = ts.allSatisfy { (0..<1000).contains($0) }
                let built = try? DDIMSchedule(schedule: plain, steps: steps, spacing: spacing, eta: 1)
                #expect((built != nil) == valid, "\(spacing) \(steps)")
                if spacing == .uniformTrailing, valid { #expect(ts.count == steps && ts.last == 999) }
            }
        }
    }

    @Test("uniform spacing can take more steps than requested")
    func uniformExtraSteps() throws {
        let ddim = try DDIMSchedule(schedule: plain, steps: 7, spacing: .uniform, eta: 1)
        #expect(ddim.requestedSteps == 7 && ddim.count == 8)
        #expect(ddim.timesteps.first == 1 && ddim.timesteps.last == 995)
        #expect(try DDIMSchedule(schedule: zsnr, steps: 5, spacing: .uniformTrailing, eta: 1).timesteps == [199, 399, 599, 799, 999])
    }

    @Test("invalid configurations throw")
    func invalid() {
        #expect(throws: DiffusionScheduleError.invalidStepCount(0, allowed: 1...1000)) {
            try DDIMSchedule(schedule: plain, steps: 0, spacing: .uniform, eta: 1)
        }
        #expect(throws: DiffusionScheduleError.invalidStepCount(1001, allowed: 1...1000)) {
            try DDIMSchedule(schedule: plain, steps: 1001, spacing: .uniformTrailing, eta: 1)
        }
        #expect(throws: DiffusionScheduleError.invalidEta(-0.5)) {
            try DDIMSchedule(schedule: plain, steps: 50, spacing: .uniform, eta: -0.5)
        }
        #expect(throws: DiffusionScheduleError.self) { try DDIMSchedule(schedule: plain, steps: 50, spacing: .uniform, eta: .nan) }
        #expect(throws: DiffusionScheduleError.self) { try DDIMSchedule(schedule: plain, steps: 50, spacing: .uniform, eta: .infinity) }
        // 1000 // 3 = 333 → timesteps 1, 334, 667, 1000: the reference raises IndexError.
        #expect(throws: DiffusionScheduleError.timestepOutOfRange(steps: 3, spacing: .uniform, timestep: 1000)) {
            try DDIMSchedule(schedule: plain, steps: 3, spacing: .uniform, eta: 1)
        }
        // 61 trailing steps: arange yields 62 values, the last rounds to 0 → timestep −1.
        #expect(throws: DiffusionScheduleError.timestepOutOfRange(steps: 61, spacing: .uniformTrailing, timestep: -1)) {
            try DDIMSchedule(schedule: zsnr, steps: 61, spacing: .uniformTrailing, eta: 1)
        }
        #expect(throws: DiffusionScheduleError.self) { try DDIMSchedule(schedule: plain, steps: 50, spacing: .uniform, eta: 3) }
        #expect(throws: DiffusionScheduleError.invalidDynamicRescaleBase(-1)) {
            try DDIMSchedule(schedule: zsnr, steps: 50, spacing: .uniformTrailing, eta: 1, dynamicRescaleBase: -1)
        }
        #expect(throws: DiffusionScheduleError.self) { try GuidanceConfig(scale: .nan) }
        #expect(throws: DiffusionScheduleError.self) { try GuidanceConfig(scale: 7.5, rescale: 1.5) }
        #expect(throws: DiffusionScheduleError.self) { try GuidanceConfig(scale: 7.5, rescale: -0.1) }
        #expect(DiffusionScheduleError.invalidEta(-1).description.contains("eta"))
        let trailingZSNR = try? DDIMSchedule(schedule: zsnr, steps: 50, spacing: .uniformTrailing, eta: 1)
        #expect(throws: DiffusionScheduleError.epsilonPredictionAtZeroSNR(timestep: 999)) {
            try DDIMSampler(schedule: trailingZSNR!, parameterization: .eps, guidance: .none)
        }
    }

    @Test("the 50-step production schedules build")
    func production() throws {
        let s256 = try DDIMSchedule(schedule: plain, steps: 50, spacing: .uniform, eta: 1)
        #expect(s256.count == 50 && s256.timesteps.first == 1 && s256.timesteps.last == 981)
        let s512 = try DDIMSchedule(schedule: zsnr, steps: 50, spacing: .uniformTrailing, eta: 1, dynamicRescaleBase: 0.7)
        #expect(s512.count == 50 && s512.timesteps.last == 999 && s512.alphas.last == 0)
        #expect(s512.coefficients(at: 49).sqrtOneMinusAlpha == 1)
    }
}

@Suite("Zero-terminal SNR edge")
struct ZeroTerminalSNREdgeTests {
    @Test("where rounding makes 1 − a_prev − σ² slightly negative at t = 999 the direction is 0, not NaN")
    func negativeRadicand() throws {
        // 25 trailing steps with eta 1: the reference computes sqrt of a tiny negative number.
        let ddim = try DDIMSchedule(schedule: .dynamiCrafter512(), steps: 25, spacing: .uniformTrailing, eta: 1, dynamicRescaleBase: 0.7)
        let last = ddim.coefficients(at: 24)
        #expect(last.alpha == 0 && last.directionRadicand < 0 && last.directionRadicand > -1e-6)
        #expect(last.directionCoefficient == 0)
        // With 5 steps (the tiny-512 golden) it rounds to exactly 0, as in the reference.
        let five = try DDIMSchedule(schedule: .dynamiCrafter512(), steps: 5, spacing: .uniformTrailing, eta: 1).coefficients(at: 4)
        #expect(five.directionRadicand == 0 && five.directionCoefficient == 0)
        // Away from t = 999 it is an ordinary positive number.
        #expect(ddim.coefficients(at: 10).directionRadicand > 0.01)
    }
}
