import Foundation
import TensorCore
import TensorStorage

/// DPM-Solver++(2M) and UniPC (bh2), second order, in data-prediction (x̂₀) form: deterministic
/// multistep ODE solvers, closer to the converged result than DDIM at the same step count (the
/// convergence test on the demo model; not compared on the published models here).
///
/// Per step i (visiting the schedule's timesteps from the largest down):
/// 1. guidance and guidance rescale exactly as DDIM (`DDIMSampler.guidedOutput`, the same code);
/// 2. x̂₀ from the guided output: ε-models `(x − σᵢ·ε)/αᵢ`, v-models `αᵢ·x − σᵢ·v`;
/// 3. dynamic rescale (512 / 1024 models) `x̂₀ ·= scale_arr[t_next]/scale_arr[t]`, the factor DDIM
///    applies at the same index (1 at the last step);
/// 4. the solver update from x and the last two x̂₀ to the next level.
///
/// The levels and orders follow diffusers' `DPMSolverMultistepScheduler` (`dpmsolver++`,
/// `midpoint`) and `UniPCMultistepScheduler` (`bh2`, `predict_x0`) with solver order 2,
/// `lower_order_final` and `final_sigmas_type="sigma_min"`: the last step ends at ᾱ[0], where the
/// reference's DDIM ends too (its last `a_prev`), so the three samplers' latents are comparable.
/// The first step is first order (no history yet); DPM-Solver++ also takes its last step first
/// order when there are fewer than 15 steps, UniPC always (its predictor order is capped by the
/// steps left). A zero-terminal-SNR level uses ᾱ = 2⁻²⁴ (`NoiseLevel`). Unlike DDIM, the ε implied by
/// the x̂₀ form follows the rescaled x̂₀; this is the solvers' own use of the dynamic rescale.
public struct MultistepSolver: Sendable {
    public enum Method: String, Sendable, Hashable, CaseIterable {
        case dpmpp2m = "dpmpp-2m"
        case unipc
    }

    public let method: Method
    /// The timesteps (`DDIMSchedule.timesteps`, so the spacing is DDIM's) and dynamic-rescale table.
    public let schedule: DDIMSchedule
    public let parameterization: Parameterization
    public let guidance: GuidanceConfig
    /// The levels in visiting order: element i is step i's, and element `count` the final one (ᾱ[0]).
    public let levels: [NoiseLevel]
    /// Guidance as DDIM applies it; its DDIM coefficients are not used.
    let guide: DDIMSampler

    /// Throws `DiffusionScheduleError.epsilonPredictionAtZeroSNR` for an ε-model on a schedule
    /// that visits ᾱ = 0, as `DDIMSampler` does.
    public init(method: Method, schedule: DDIMSchedule, parameterization: Parameterization, guidance: GuidanceConfig) throws {
        guide = try DDIMSampler(schedule: schedule, parameterization: parameterization, guidance: guidance)
        self.method = method
        self.schedule = schedule
        self.parameterization = parameterization
        self.guidance = guidance
        let acp = schedule.noiseSchedule.alphasCumprod
        levels = schedule.visitingOrder.map { NoiseLevel(alphaCumprod: acp[$0]) } + [NoiseLevel(alphaCumprod: acp[0])]
    }

    /// Steps in the whole run.
    public var count: Int { schedule.count }

    /// The schedule's coefficients of step i (timestep, DDIM index, dynamic-rescale factor).
    public func step(_ i: Int) throws -> DDIMStepCoefficients {
        guard (0..<count).contains(i) else { throw DDIMSamplerError.indexOutOfRange(i, count: count) }
        return schedule.coefficients(at: count - 1 - i)
    }

    /// The guided model output, as DDIM computes it.
    public func guidedOutput(_ prediction: NoisePrediction) throws -> Tensor {
        try guide.guidedOutput(prediction)
    }

    /// x̂₀ of step i from the guided output at x, after the dynamic rescale.
    public func predictedX0(modelOutput: Tensor, x: Tensor, step i: Int) throws -> Tensor {
        try DDIMSampler.requireShape(modelOutput.shape, "model output", like: x.shape)
        let level = levels[i]
        let factor = Double(try step(i).rescaleFactor ?? 1)
        let (a, s) = (level.alpha, level.sigma)
        return SolverArithmetic.map(x, modelOutput) { xv, mo in
            switch parameterization {
            case .eps: ((xv - s * mo) / a) * factor
            case .v: (a * xv - s * mo) * factor
            }
        }
    }

    /// The order DPM-Solver++ uses at step i with `history` earlier x̂₀ available.
    func dpmOrder(step i: Int, history: Int) -> Int {
        let lowerOrderFinal = i == count - 1 && count < 15
        return history == 0 || lowerOrderFinal ? 1 : 2
    }

    /// The predictor order UniPC uses at step i: capped by the steps left and the history.
    func uniPCOrder(step i: Int, history: Int) -> Int {
        min(2, count - i, history + 1)
    }

    /// DPM-Solver++ from level i to i+1. `x0` is step i's x̂₀, `previous` step i−1's (order 2).
    func dpmUpdate(_ x: Tensor, x0: Tensor, previous: Tensor?, step i: Int, order: Int) -> Tensor {
        let (s0, t) = (levels[i], levels[i + 1])
        let h = t.lambda - s0.lambda
        let decay = t.sigma / s0.sigma
        let data = t.alpha * -expm1(-h)                  // −α_t·(e^{−h} − 1)
        guard order == 2, let previous else {
            return SolverArithmetic.map(x, x0) { xv, m0 in decay * xv + data * m0 }
        }
        // Midpoint: D1 = (m0 − m1)/r0 with r0 = h₀/h, weighted ½.
        let r0 = (s0.lambda - levels[i - 1].lambda) / h
        let half = 0.5 * data / r0
        return SolverArithmetic.map(x, x0, previous) { xv, m0, m1 in decay * xv + data * m0 + half * (m0 - m1) }
    }

    /// UniPC's predictor (UniP, bh2) from level i to i+1.
    func uniPredictor(_ x: Tensor, x0: Tensor, previous: Tensor?, step i: Int, order: Int) -> Tensor {
        let (s0, t) = (levels[i], levels[i + 1])
        let h = t.lambda - s0.lambda
        let decay = t.sigma / s0.sigma
        let phi = expm1(-h)                              // h·φ₁ = B(h) for bh2
        let data = -t.alpha * phi
        guard order == 2, let previous else {
            return SolverArithmetic.map(x, x0) { xv, m0 in decay * xv + data * m0 }
        }
        // D1 = (m1 − m0)/r1, r1 = (λ_{i−1} − λ_i)/h, with the order-2 weight ½.
        let r1 = (levels[i - 1].lambda - s0.lambda) / h
        let weight = -t.alpha * phi * 0.5 / r1
        return SolverArithmetic.map(x, x0, previous) { xv, m0, m1 in decay * xv + data * m0 + weight * (m1 - m0) }
    }

    /// UniPC's corrector (UniC, bh2) of step i: refines x_i, which the predictor reached from
    /// `lastSample` (x_{i−1}) with `order`, using step i's x̂₀ `x0` (the network was evaluated at the
    /// uncorrected x_i). `history` holds x̂₀ of steps i−1 and, for order 2, i−2 (oldest first).
    func uniCorrector(lastSample: Tensor, x0: Tensor, history: [Tensor], step i: Int, order: Int) -> Tensor {
        let (s0, t) = (levels[i - 1], levels[i])
        let h = t.lambda - s0.lambda
        let hh = -h
        let phi = expm1(hh)
        let decay = t.sigma / s0.sigma
        let m0 = history[history.count - 1]
        // b_k = k!·φ_{k+1}(hh)·hh / B(h), φ built by the recurrence φ_{k+1} = φ_k/hh − 1/k!.
        let phi2 = phi / hh - 1
        let b1 = phi2 / phi
        let phi3 = phi2 / hh - 0.5
        let b2 = phi3 * 2 / phi
        let scale = -t.alpha * phi
        if order == 2, history.count >= 2 {
            let m1 = history[history.count - 2]
            let r1 = (levels[i - 2].lambda - s0.lambda) / h
            // Solve [[1, 1], [r1, 1]]·ρ = [b1, b2].
            let rho0 = (b1 - b2) / (1 - r1)
            let rho1 = b1 - rho0
            let w1 = scale * rho0 / r1
            let wt = scale * rho1
            return SolverArithmetic.map(lastSample, m0, m1, x0) { xv, m0, m1, mt in
                decay * xv + scale * m0 + w1 * (m1 - m0) + wt * (mt - m0)
            }
        }
        // Order 1: diffusers fixes ρ = ½ rather than solving.
        let wt = scale * 0.5
        return SolverArithmetic.map(lastSample, m0, x0) { xv, m0, mt in decay * xv + scale * m0 + wt * (mt - m0) }
    }
}
