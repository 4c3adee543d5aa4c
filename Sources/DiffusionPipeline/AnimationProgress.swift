import Foundation

/// The stage a run is in.
public enum AnimationStage: String, Sendable, Hashable, CaseIterable {
    /// Text and image conditioning, VAE encoding of the image(s).
    case encoding
    /// The DDIM loop.
    case denoising
    /// VAE decoding of the sampled latent.
    case decoding
}

/// Reported at every stage change and after every DDIM step.
public struct AnimationProgress: Sendable, Equatable {
    public let stage: AnimationStage
    /// DDIM steps finished (0 before the loop).
    public let step: Int
    public let totalSteps: Int
    /// Seconds since the run started.
    public let elapsed: Double
    /// Estimated seconds left (from the measured time per step; nil until one step is timed).
    public let remaining: Double?

    public init(stage: AnimationStage, step: Int, totalSteps: Int, elapsed: Double, remaining: Double?) {
        self.stage = stage
        self.step = step
        self.totalSteps = totalSteps
        self.elapsed = elapsed
        self.remaining = remaining
    }

    /// Overall completion in [0, 1]: encoding counts as one step, decoding as two.
    public var fraction: Double {
        let total = Double(totalSteps + 3)
        switch stage {
        case .encoding: return 0
        case .denoising: return (1 + Double(step)) / total
        case .decoding: return (1 + Double(totalSteps)) / total
        }
    }
}
