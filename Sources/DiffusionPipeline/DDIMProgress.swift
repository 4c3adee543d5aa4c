/// Reported after every DDIM step.
public struct DDIMProgress: Sendable, Equatable {
    /// Steps finished so far (1 after the first step).
    public let completedSteps: Int
    /// Steps in the whole run.
    public let totalSteps: Int
    /// The step just finished: its training timestep and DDIM index.
    public let timestep: Int
    public let index: Int

    public init(completedSteps: Int, totalSteps: Int, timestep: Int, index: Int) {
        self.completedSteps = completedSteps
        self.totalSteps = totalSteps
        self.timestep = timestep
        self.index = index
    }

    /// completed / total, in [0, 1].
    public var fraction: Double { totalSteps == 0 ? 1 : Double(completedSteps) / Double(totalSteps) }
    public var isFinished: Bool { completedSteps == totalSteps }
}
