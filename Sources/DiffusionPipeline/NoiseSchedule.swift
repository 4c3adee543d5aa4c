import Foundation

/// The DDPM noise schedule of a DynamiCrafter model and the float32 buffers the model registers
/// from it (`register_schedule` in the reference).
///
/// Everything is computed in float64 exactly as the reference does it (linear betas from
/// `torch.linspace` in float64, optional zero-terminal-SNR rescale, `cumprod` of `1 − β`), then
/// each model buffer is rounded once to float32. The buffers match the reference bit for bit.
public struct NoiseSchedule: Sendable, Equatable {
    /// Training timesteps T (1000 for every DynamiCrafter model).
    public let timesteps: Int
    public let linearStart: Double
    public let linearEnd: Double
    public let rescaleZeroTerminalSNR: Bool
    public let parameterization: Parameterization

    /// β in float64, after the zero-terminal-SNR rescale when enabled.
    public let betas64: [Double]
    /// ᾱ = cumprod(1 − β) in float64. With zero-terminal SNR the last one is exactly 0.
    public let alphasCumprod64: [Double]

    // The model's float32 buffers.
    public let betas: [Float]
    public let alphasCumprod: [Float]
    public let alphasCumprodPrev: [Float]
    public let sqrtAlphasCumprod: [Float]
    public let sqrtOneMinusAlphasCumprod: [Float]
    public let logOneMinusAlphasCumprod: [Float]
    /// `sqrt(1/ᾱ)`; all zeros for v-prediction models (the reference registers zeros there).
    public let sqrtRecipAlphasCumprod: [Float]
    /// `sqrt(1/ᾱ − 1)`; all zeros for v-prediction models.
    public let sqrtRecipm1AlphasCumprod: [Float]
    public let posteriorVariance: [Float]
    public let posteriorLogVarianceClipped: [Float]
    public let posteriorMeanCoef1: [Float]
    public let posteriorMeanCoef2: [Float]

    /// - Parameters:
    ///   - timesteps: training timesteps T (≥ 2).
    ///   - linearStart, linearEnd: β range of the "linear" schedule (β = linspace(√start, √end, T)²).
    ///   - rescaleZeroTerminalSNR: rescale so that the last ᾱ is 0 (512 / 1024 models).
    ///   - parameterization: only decides whether the `sqrt_recip*` buffers are real or zeros.
    public init(timesteps: Int = 1000, linearStart: Double = 0.00085, linearEnd: Double = 0.012,
                rescaleZeroTerminalSNR: Bool = false, parameterization: Parameterization = .eps) throws {
        guard timesteps >= 2 else { throw DiffusionScheduleError.invalidTrainingTimesteps(timesteps) }
        guard linearStart.isFinite, linearEnd.isFinite, linearStart > 0, linearStart <= linearEnd, linearEnd < 1 else {
            throw DiffusionScheduleError.invalidBetaRange(start: linearStart, end: linearEnd)
        }
        self.timesteps = timesteps
        self.linearStart = linearStart
        self.linearEnd = linearEnd
        self.rescaleZeroTerminalSNR = rescaleZeroTerminalSNR
        self.parameterization = parameterization

        // make_beta_schedule("linear"): Python's `x ** 0.5` is the correctly rounded square root.
        var betas = ReferenceNumerics.torchLinspace(linearStart.squareRoot(), linearEnd.squareRoot(), count: timesteps)
            .map { $0 * $0 }
        if rescaleZeroTerminalSNR { betas = Self.rescaledToZeroTerminalSNR(betas) }

        let alphas = betas.map { 1.0 - $0 }
        var cumprod = [Double](repeating: 0, count: timesteps)
        var running = 1.0
        for i in 0..<timesteps {
            running = i == 0 ? alphas[0] : running * alphas[i]
            cumprod[i] = running
        }
        let cumprodPrev = [1.0] + cumprod.dropLast()
        betas64 = betas
        alphasCumprod64 = cumprod

        func f32(_ values: [Double]) -> [Float] { values.map { Float($0) } }
        let n = timesteps
        self.betas = f32(betas)
        alphasCumprod = f32(cumprod)
        alphasCumprodPrev = f32(cumprodPrev)
        sqrtAlphasCumprod = f32(cumprod.map { $0.squareRoot() })
        sqrtOneMinusAlphasCumprod = f32(cumprod.map { (1.0 - $0).squareRoot() })
        logOneMinusAlphasCumprod = f32(cumprod.map { Foundation.log(1.0 - $0) })
        if parameterization == .v {
            sqrtRecipAlphasCumprod = [Float](repeating: 0, count: n)
            sqrtRecipm1AlphasCumprod = [Float](repeating: 0, count: n)
        } else {
            sqrtRecipAlphasCumprod = f32(cumprod.map { (1.0 / $0).squareRoot() })
            sqrtRecipm1AlphasCumprod = f32(cumprod.map { (1.0 / $0 - 1).squareRoot() })
        }
        // v_posterior = 0: (1 − 0)·β·(1 − ᾱ_prev)/(1 − ᾱ) + 0·β, evaluated left to right.
        var posterior = [Double](repeating: 0, count: n)
        var coef1 = [Double](repeating: 0, count: n)
        var coef2 = [Double](repeating: 0, count: n)
        for i in 0..<n {
            let beta: Double = betas[i]
            let oneMinus: Double = 1.0 - cumprod[i]
            let oneMinusPrev: Double = 1.0 - cumprodPrev[i]
            let numerator: Double = (1.0 * beta) * oneMinusPrev
            posterior[i] = numerator / oneMinus + 0.0 * beta
            coef1[i] = (beta * cumprodPrev[i].squareRoot()) / oneMinus
            coef2[i] = (oneMinusPrev * alphas[i].squareRoot()) / oneMinus
        }
        posteriorVariance = f32(posterior)
        posteriorLogVarianceClipped = f32(posterior.map { Foundation.log(Swift.max($0, 1e-20)) })
        posteriorMeanCoef1 = f32(coef1)
        posteriorMeanCoef2 = f32(coef2)
    }

    /// The schedule of DynamiCrafter 256 (ε-prediction, plain linear betas).
    public static func dynamiCrafter256() -> NoiseSchedule {
        // The defaults are valid by construction.
        try! NoiseSchedule(rescaleZeroTerminalSNR: false, parameterization: .eps)
    }

    /// The schedule of DynamiCrafter 512 / 1024 (v-prediction, zero-terminal-SNR betas).
    public static func dynamiCrafter512() -> NoiseSchedule {
        try! NoiseSchedule(rescaleZeroTerminalSNR: true, parameterization: .v)
    }

    /// Zero-terminal-SNR rescale (Lin et al. 2023, Algorithm 1) in float64, as the reference:
    /// shift √ᾱ so the last is 0, scale so the first is unchanged, and turn it back into betas.
    static func rescaledToZeroTerminalSNR(_ betas: [Double]) -> [Double] {
        var running = 1.0
        var sqrtBar = betas.enumerated().map { i, beta -> Double in
            running = i == 0 ? 1.0 - beta : running * (1.0 - beta)
            return running.squareRoot()
        }
        let first = sqrtBar[0]
        let last = sqrtBar[sqrtBar.count - 1]
        let factor = first / (first - last)
        for i in sqrtBar.indices {
            sqrtBar[i] -= last
            sqrtBar[i] *= factor
        }
        let bar = sqrtBar.map { $0 * $0 }
        return bar.indices.map { i in 1.0 - (i == 0 ? bar[0] : bar[i] / bar[i - 1]) }
    }

    /// The dynamic-rescale table `scale_arr` of the 512 / 1024 models:
    /// `concat(linspace(1, base, turningStep), full(timesteps, base))` as float32 (1400 values for
    /// the defaults). `base` is a Python float in the reference (0.7 for 512, 0.3 for 1024); pass
    /// it as a `Double` so that it rounds the same way.
    public static func scaleArray(base: Double, turningStep: Int = 400, timesteps: Int = 1000) throws -> [Float] {
        guard base.isFinite, base > 0 else { throw DiffusionScheduleError.invalidDynamicRescaleBase(base) }
        let ramp = ReferenceNumerics.numpyLinspace(1.0, base, count: turningStep)
        return (ramp + [Double](repeating: base, count: timesteps)).map { Float($0) }
    }

    /// `scaleArray(base:)` for this schedule's number of timesteps.
    public func scaleArray(base: Double, turningStep: Int = 400) throws -> [Float] {
        try Self.scaleArray(base: base, turningStep: turningStep, timesteps: timesteps)
    }
}
