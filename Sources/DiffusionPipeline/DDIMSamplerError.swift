/// Errors of a DDIM run (the configuration itself is checked by `DiffusionScheduleError`).
public enum DDIMSamplerError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A tensor's shape does not match the latent's.
    case shapeMismatch(what: String, expected: [Int], got: [Int])
    /// The latent must be [B, …] with at least one element per sample (two with guidance rescale,
    /// whose standard deviation needs N − 1 > 0).
    case invalidLatentShape([Int])
    /// Guidance is on (scale ≠ 1) but the prediction has no unconditional output.
    case missingUnconditional(index: Int)
    /// Image guidance is on but the prediction has no image-only output.
    case missingImageOnly(index: Int)
    /// A DDIM index outside the schedule.
    case indexOutOfRange(Int, count: Int)
    /// The loop has already taken every step.
    case finished
    /// The progress callback asked to stop after this many completed steps.
    case cancelled(completedSteps: Int)

    public var description: String {
        switch self {
        case .shapeMismatch(let what, let expected, let got): "\(what) has shape \(got), expected \(expected)"
        case .invalidLatentShape(let shape): "latent shape \(shape) is not [B, ...] with enough elements per sample"
        case .missingUnconditional(let index): "guidance is on but step \(index) got no unconditional output"
        case .missingImageOnly(let index): "image guidance is on but step \(index) got no image-only output"
        case .indexOutOfRange(let index, let count): "DDIM index \(index) outside 0..<\(count)"
        case .finished: "the DDIM loop has already finished"
        case .cancelled(let n): "sampling cancelled after \(n) step(s)"
        }
    }
}
