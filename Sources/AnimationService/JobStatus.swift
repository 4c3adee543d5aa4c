/// Where a job is in its life; the last three are final.
public enum JobState: String, Sendable, CaseIterable {
    case queued, running, done, failed, cancelled

    public var isFinal: Bool { self == .done || self == .failed || self == .cancelled }
}

/// What a running job is doing; `none` while queued.
public enum JobStage: String, Sendable, CaseIterable {
    case none = ""
    case loading, encoding, denoising, decoding, writing
}

/// The observable properties of a job (what the D-Bus layer publishes).
public enum JobProperty: String, Sendable, CaseIterable {
    case state = "State"
    case stage = "Stage"
    case progress = "Progress"
    case step = "Step"
    case totalSteps = "TotalSteps"
    case remainingSeconds = "RemainingSeconds"
}

/// A job as seen from outside at one moment.
public struct JobSnapshot: Sendable, Equatable {
    public let id: UInt64
    /// The client that submitted it.
    public let owner: String
    public internal(set) var state: JobState
    public internal(set) var stage: JobStage
    /// Fraction of the whole job done, 0…1, never decreasing.
    public internal(set) var progress: Double
    public internal(set) var step: Int
    public internal(set) var totalSteps: Int
    /// Estimated seconds left; -1 before there is a measurement, 0 once ended.
    public internal(set) var remainingSeconds: Double
    /// Why it failed or was cancelled; nil while running and on success.
    public internal(set) var error: ServiceError?
    /// Whether the result goes to an output descriptor (else it is kept for `takeFrames`).
    public let hasOutput: Bool

    func value(of property: JobProperty) -> AnyHashable {
        switch property {
        case .state: state.rawValue
        case .stage: stage.rawValue
        case .progress: progress
        case .step: step
        case .totalSteps: totalSteps
        case .remainingSeconds: remainingSeconds
        }
    }

    /// The properties whose values differ between two snapshots of the same job.
    func changes(from old: JobSnapshot) -> [JobProperty] {
        JobProperty.allCases.filter { value(of: $0) != old.value(of: $0) }
    }
}

/// What the whole service is doing.
public enum ServiceState: String, Sendable, CaseIterable {
    /// No job runs and no model is loading.
    case idle
    /// A model is being loaded.
    case loading
    /// A job is running.
    case busy
}

/// The service's observable state.
public struct ServiceStatus: Sendable, Equatable {
    public var state: ServiceState
    /// The name of the model in memory; empty when none is.
    public var loadedModel: String
    /// Jobs waiting to run, not counting the running one.
    public var queueLength: Int
    /// Jobs known to the service (queued, running, or finished and still retained).
    public var jobCount: Int

    public init(state: ServiceState = .idle, loadedModel: String = "", queueLength: Int = 0, jobCount: Int = 0) {
        self.state = state
        self.loadedModel = loadedModel
        self.queueLength = queueLength
        self.jobCount = jobCount
    }
}

/// What the engine tells its observer, in the order things happened.
public enum EngineEvent: Sendable {
    /// The service's state, loaded model, queue length or job count changed.
    case statusChanged(old: ServiceStatus, new: ServiceStatus)
    /// A job was accepted (its first snapshot).
    case jobAdded(JobSnapshot)
    /// Some of a job's properties changed; `changed` lists which.
    case jobChanged(JobSnapshot, changed: [JobProperty])
    /// A job ended (sent once, after the `jobChanged` that made its state final).
    case jobCompleted(JobSnapshot)
    /// A finished job's retention time is over; it is gone.
    case jobRemoved(id: UInt64, owner: String)
}

/// Raw frames handed over by `JobEngine.takeFrames`.
public struct FramesHandoff: Sendable {
    /// A read-only descriptor of a sealed memfd with every frame as packed RGB, owned by the
    /// caller (who must close it).
    public let fileDescriptor: Int32
    public let width: Int
    public let height: Int
    public let frameCount: Int
    /// The frame rate the clip is meant to be played at.
    public let fps: Int
}
