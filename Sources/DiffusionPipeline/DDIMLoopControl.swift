/// What a progress callback tells the sampling loop.
public enum DDIMLoopControl: Sendable, Equatable {
    /// Go on with the next step.
    case proceed
    /// Stop now: `DDIMSampler.sample` throws `DDIMSamplerError.cancelled`.
    case stop
}
