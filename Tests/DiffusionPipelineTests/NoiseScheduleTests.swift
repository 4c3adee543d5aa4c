import DiffusionPipeline
import Testing

@Suite("Noise schedules against golden/common/schedules.safetensors")
struct NoiseScheduleTests {
    let golden: Fixture

    init() throws { golden = try Fixture("schedules.safetensors") }

    @Test("float64 betas and alphas_cumprod are bit-exact", arguments: [false, true])
    func float64Buffers(zsnr: Bool) throws {
        let schedule = try NoiseSchedule(rescaleZeroTerminalSNR: zsnr, parameterization: zsnr ? .v : .eps)
        let prefix = zsnr ? "zsnr" : "plain"
        #expect(schedule.betas64 == (try golden.doubles("\(prefix).betas_f64")))
        #expect(schedule.alphasCumprod64 == (try golden.doubles("\(prefix).alphas_cumprod_f64")))
        if zsnr {
            #expect(schedule.alphasCumprod64.last == 0)
            #expect(schedule.betas64.last == 1)
        }
    }

    @Test("every float32 model buffer is bit-exact", arguments: [false, true])
    func float32Buffers(zsnr: Bool) throws {
        let schedule = try NoiseSchedule(rescaleZeroTerminalSNR: zsnr, parameterization: zsnr ? .v : .eps)
        let prefix = zsnr ? "zsnr" : "plain"
        let buffers: [(String, [Float])] = [
            ("betas", schedule.betas),
            ("alphas_cumprod", schedule.alphasCumprod),
            ("alphas_cumprod_prev", schedule.alphasCumprodPrev),
            ("sqrt_alphas_cumprod", schedule.sqrtAlphasCumprod),
            ("sqrt_one_minus_alphas_cumprod", schedule.sqrtOneMinusAlphasCumprod),
            ("log_one_minus_alphas_cumprod", schedule.logOneMinusAlphasCumprod),
            ("sqrt_recip_alphas_cumprod", schedule.sqrtRecipAlphasCumprod),
            ("sqrt_recipm1_alphas_cumprod", schedule.sqrtRecipm1AlphasCumprod),
            ("posterior_variance", schedule.posteriorVariance),
            ("posterior_log_variance_clipped", schedule.posteriorLogVarianceClipped),
            ("posterior_mean_coef1", schedule.posteriorMeanCoef1),
            ("posterior_mean_coef2", schedule.posteriorMeanCoef2),
        ]
        for (name, ours) in buffers {
            let reference = try golden.floats("\(prefix).\(name)")
            let worst = zip(ours, reference).map { ulpDistance($0, $1) }.max() ?? 0
            #expect(ours.count == 1000)
            #expect(worst == 0, "\(prefix).\(name): \(worst) ulp")
        }
    }

    @Test("sqrt_recip buffers are real for eps models even with zero-terminal SNR")
    func epsZSNR() throws {
        let schedule = try NoiseSchedule(rescaleZeroTerminalSNR: true, parameterization: .eps)
        #expect(schedule.sqrtRecipAlphasCumprod.last == .infinity)
        #expect(schedule.sqrtRecipAlphasCumprod.first! > 1)
    }

    @Test("scale_arr for base 0.7 and 0.3 is bit-exact")
    func scaleArray() throws {
        #expect(try NoiseSchedule.scaleArray(base: 0.7) == (try golden.floats("zsnr.scale_arr_base0.7")))
        #expect(try NoiseSchedule.scaleArray(base: 0.3) == (try golden.floats("scale_arr_base0.3")))
        let table = try NoiseSchedule.dynamiCrafter512().scaleArray(base: 0.7)
        #expect(table.count == 1400 && table[0] == 1 && table[399] == Float(0.7) && table[1399] == Float(0.7))
    }

    @Test("presets")
    func presets() {
        #expect(NoiseSchedule.dynamiCrafter256().parameterization == .eps)
        #expect(!NoiseSchedule.dynamiCrafter256().rescaleZeroTerminalSNR)
        #expect(NoiseSchedule.dynamiCrafter512().rescaleZeroTerminalSNR)
        #expect(NoiseSchedule.dynamiCrafter512().sqrtRecipAlphasCumprod.allSatisfy { $0 == 0 })
    }

    @Test("invalid schedules throw")
    func invalid() {
        #expect(throws: DiffusionScheduleError.invalidTrainingTimesteps(1)) { try NoiseSchedule(timesteps: 1) }
        #expect(throws: DiffusionScheduleError.invalidBetaRange(start: 0, end: 0.012)) { try NoiseSchedule(linearStart: 0) }
        #expect(throws: DiffusionScheduleError.invalidBetaRange(start: 0.02, end: 0.01)) {
            try NoiseSchedule(linearStart: 0.02, linearEnd: 0.01)
        }
        #expect(throws: DiffusionScheduleError.self) { try NoiseSchedule(linearEnd: .nan) }
        #expect(throws: DiffusionScheduleError.self) { try NoiseSchedule(linearEnd: 1) }
        #expect(throws: DiffusionScheduleError.invalidDynamicRescaleBase(0)) { try NoiseSchedule.scaleArray(base: 0) }
        #expect(throws: DiffusionScheduleError.self) { try NoiseSchedule.scaleArray(base: .infinity) }
    }
}
