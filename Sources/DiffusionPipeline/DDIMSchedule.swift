/// The DDIM sub-schedule: which training timesteps are visited and the per-index coefficients,
/// computed as the reference's `DDIMSampler.make_schedule` does.
///
/// Roundings, as in the reference: `a_t` and `√(1 − a_t)` are float32; `a_prev` is a float64
/// holding a float32 value; σ is evaluated in float64 from the float32 alphas — except that
/// `(1 − a_prev)/(1 − a_t)` is a NumPy array divided by a torch float32 tensor, which torch
/// computes as `float32(1/(1 − a_t)) · (1 − a_prev)`; we reproduce that (it moves σ by up to
/// ~3e-8, which can change its float32 rounding).
public struct DDIMSchedule: Sendable, Equatable {
    public let noiseSchedule: NoiseSchedule
    /// The requested number of steps S (the timestep count can be larger for `.uniform`).
    public let requestedSteps: Int
    public let spacing: DDIMTimestepSpacing
    public let eta: Double
    public let dynamicRescaleBase: Double?

    /// Selected training timesteps, ascending (index k ↦ timesteps[k]).
    public let timesteps: [Int]
    /// a_t per index (float32).
    public let alphas: [Float]
    /// a_prev per index (float64 holding float32 values, as the reference).
    public let alphasPrev: [Double]
    /// σ per index in float64, as computed.
    public let sigmas: [Double]
    /// √(1 − a_t) per index (float32).
    public let sqrtOneMinusAlphas: [Float]
    /// `scale_arr[timesteps]` and its shifted copy (nil without dynamic rescale).
    public let scales: [Float]?
    public let scalesPrev: [Float]?

    /// - Parameters:
    ///   - schedule: the model's noise schedule.
    ///   - steps: DDIM steps S, 1 … T.
    ///   - spacing: `.uniform` (256 model) or `.uniformTrailing` (512 / 1024).
    ///   - eta: DDIM eta (1.0 in DynamiCrafter; 0 is deterministic DDIM), ≥ 0.
    ///   - dynamicRescaleBase: `base_scale` of the dynamic x₀ rescale (0.7 for 512, 0.3 for 1024),
    ///     nil to disable it (256).
    public init(schedule: NoiseSchedule, steps: Int, spacing: DDIMTimestepSpacing, eta: Double,
                dynamicRescaleBase: Double? = nil) throws {
        let T = schedule.timesteps
        guard (1...T).contains(steps) else { throw DiffusionScheduleError.invalidStepCount(steps, allowed: 1...T) }
        guard eta.isFinite, eta >= 0 else { throw DiffusionScheduleError.invalidEta(eta) }
        let ts = Self.selectTimesteps(steps: steps, spacing: spacing, trainingTimesteps: T)
        if let bad = ts.first(where: { $0 < 0 || $0 >= T }) {
            throw DiffusionScheduleError.timestepOutOfRange(steps: steps, spacing: spacing, timestep: bad)
        }
        noiseSchedule = schedule
        requestedSteps = steps
        self.spacing = spacing
        self.eta = eta
        self.dynamicRescaleBase = dynamicRescaleBase
        timesteps = ts

        let acp = schedule.alphasCumprod
        alphas = ts.map { acp[$0] }
        alphasPrev = [Double(acp[0])] + ts.dropLast().map { Double(acp[$0]) }
        sqrtOneMinusAlphas = alphas.map { (1 - $0).squareRoot() }
        sigmas = zip(alphas, alphasPrev).map { a, aPrev in
            let reciprocal = Double(1 / (1 - a))           // torch: float32 reciprocal …
            let ratio = (1 - aPrev) * reciprocal            // … times the float64 numerator
            return eta * (ratio * (1 - Double(a) / aPrev)).squareRoot()
        }
        if let base = dynamicRescaleBase {
            let table = try schedule.scaleArray(base: base)
            let selected = ts.map { table[$0] }
            scales = selected
            scalesPrev = [selected[0]] + selected.dropLast()
        } else {
            scales = nil
            scalesPrev = nil
        }
        // Rounding alone leaves 1 − a_prev − σ² within a few ulp of 1 below zero (see
        // `DDIMStepCoefficients.directionCoefficient`); more negative means eta is too large.
        for k in ts.indices where !(coefficients(at: k).directionRadicand >= -1e-6) {
            throw DiffusionScheduleError.etaTooLarge(eta: eta, index: k)
        }
    }

    /// Number of DDIM steps actually taken (= timesteps.count).
    public var count: Int { timesteps.count }

    /// The training timesteps in the order the sampler visits them (descending).
    public var visitingOrder: [Int] { timesteps.reversed() }

    /// Per-step coefficients in visiting order: element i is step i, DDIM index count−1−i.
    public var steps: [DDIMStepCoefficients] { (0..<count).reversed().map { coefficients(at: $0) } }

    /// The float32 scalars for DDIM index `index` (0 ..< count).
    public func coefficients(at index: Int) -> DDIMStepCoefficients {
        precondition(timesteps.indices.contains(index), "DDIM index \(index) outside 0..<\(count)")
        let t = timesteps[index]
        return DDIMStepCoefficients(
            index: index, timestep: t,
            alpha: alphas[index], alphaPrev: Float(alphasPrev[index]), sigma: Float(sigmas[index]),
            sqrtOneMinusAlpha: sqrtOneMinusAlphas[index],
            sqrtAlphaCumprod: noiseSchedule.sqrtAlphasCumprod[t],
            sqrtOneMinusAlphaCumprod: noiseSchedule.sqrtOneMinusAlphasCumprod[t],
            scale: scales?[index], scalePrev: scalesPrev?[index])
    }

    /// `make_ddim_timesteps`, unvalidated: ascending, and possibly outside `0..<T` (see
    /// `DiffusionScheduleError.timestepOutOfRange`).
    public static func selectTimesteps(steps: Int, spacing: DDIMTimestepSpacing, trainingTimesteps T: Int) -> [Int] {
        precondition(steps >= 1)
        switch spacing {
        case .uniform:
            let c = T / steps
            return Array(stride(from: 0, to: T, by: c)).map { $0 + 1 }
        case .uniformTrailing:
            let c = Double(T) / Double(steps)
            return ReferenceNumerics.numpyArange(Double(T), 0, -c)
                .map { Int($0.rounded(.toNearestOrEven)) - 1 }
                .reversed()
        }
    }
}
