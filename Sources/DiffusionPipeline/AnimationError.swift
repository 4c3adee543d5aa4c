/// Why a run could not start or did not finish.
public enum AnimationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// An option outside its accepted range.
    case invalidOption(name: String, value: String, allowed: String)
    /// An input image or latent of the wrong shape.
    case invalidInput(String)
    /// The caller asked to stop (between network blocks or frames).
    case cancelled
    /// The computation produced NaN or infinite values (e.g. a corrupt checkpoint).
    case nonFiniteOutput(stage: String)

    public var description: String {
        switch self {
        case .invalidOption(let name, let value, let allowed): "invalid \(name) \(value): allowed \(allowed)"
        case .invalidInput(let message): message
        case .cancelled: "cancelled"
        case .nonFiniteOutput(let stage): "the model produced non-finite values while \(stage) (is the checkpoint damaged?)"
        }
    }
}
