/// Why a noise schedule, a DDIM schedule or a guidance setting was rejected.
///
/// Every configuration is validated when it is built, before any compute, so that a bad request
/// (from the CLI, the daemon or a test) fails with a message instead of producing NaNs.
public enum DiffusionScheduleError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The number of training (DDPM) timesteps must be at least 2.
    case invalidTrainingTimesteps(Int)
    /// Linear beta endpoints must be finite with `0 < start ≤ end < 1`.
    case invalidBetaRange(start: Double, end: Double)
    /// The DDIM step count must lie in `allowed` (1 … training timesteps).
    case invalidStepCount(Int, allowed: ClosedRange<Int>)
    /// `eta` must be finite and non-negative.
    case invalidEta(Double)
    /// The step count and spacing select a timestep outside `0 ..< trainingTimesteps`.
    /// The reference raises an IndexError for these `uniform` counts (e.g. 3, 9, 27 of 1000) and
    /// silently wraps timestep −1 to the last one for some `uniform_trailing` counts (61, 103, …).
    case timestepOutOfRange(steps: Int, spacing: DDIMTimestepSpacing, timestep: Int)
    /// `1 − a_prev − σ²` is clearly negative at this DDIM index (eta too large), so the update
    /// has no real square root.
    case etaTooLarge(eta: Double, index: Int)
    /// The dynamic-rescale base must be finite and positive.
    case invalidDynamicRescaleBase(Double)
    /// The guidance scale must be finite; the guidance rescale factor must lie in [0, 1].
    case invalidGuidance(scale: Double, rescale: Double)
    /// ε-prediction divides by √a_t, which is 0 at the last timestep of a zero-terminal-SNR
    /// schedule with trailing spacing; such a model must use v-prediction.
    case epsilonPredictionAtZeroSNR(timestep: Int)

    public var description: String {
        switch self {
        case .invalidTrainingTimesteps(let n):
            "the noise schedule needs at least 2 training timesteps, got \(n)"
        case .invalidBetaRange(let start, let end):
            "linear betas need finite 0 < start <= end < 1, got start \(start), end \(end)"
        case .invalidStepCount(let n, let allowed):
            "DDIM steps must be in \(allowed.lowerBound)...\(allowed.upperBound), got \(n)"
        case .invalidEta(let eta):
            "eta must be finite and >= 0, got \(eta)"
        case .timestepOutOfRange(let steps, let spacing, let t):
            "\(steps) DDIM steps with '\(spacing.rawValue)' spacing select timestep \(t), outside the schedule; choose another step count"
        case .etaTooLarge(let eta, let index):
            "eta \(eta) makes 1 - a_prev - sigma^2 negative at DDIM index \(index)"
        case .invalidDynamicRescaleBase(let base):
            "the dynamic rescale base must be finite and > 0, got \(base)"
        case .invalidGuidance(let scale, let rescale):
            "guidance scale must be finite and guidance rescale in [0, 1], got scale \(scale), rescale \(rescale)"
        case .epsilonPredictionAtZeroSNR(let t):
            "epsilon prediction cannot sample timestep \(t), where alphas_cumprod is 0 (zero terminal SNR); use v-prediction"
        }
    }
}
