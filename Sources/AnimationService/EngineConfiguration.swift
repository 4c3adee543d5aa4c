import DiffusionPipeline
import Logging
import TensorCore

/// How a `JobEngine` runs.
public struct EngineConfiguration: Sendable {
    /// Jobs that may wait in the queue (the running one not counted); more are refused (Busy).
    public var maxQueueLength: Int
    /// Images one caller may have being read at once (reading holds no place in the queue;
    /// this keeps one client from tying up the readers); more are refused (Busy).
    public var maxReadsPerCaller = 2
    /// Images being read at once, all callers together (each read is a thread).
    public var maxReads = 32
    /// Seconds a finished job stays (for its progress, outcome and frames) before removal.
    public var jobRetention: Double
    /// Compute threads; nil = all CPUs.
    public var threads: Int?
    /// Compute backend; nil = the fastest available (oneDNN, else OpenBLAS).
    public var backend: BackendKind?
    public var inputLimits: InputLimits
    /// A job's output descriptor that accepts no data for this many seconds fails the job.
    public var outputStallTimeout: Double
    /// Where the private folder for encoding results is made; nil = `$TMPDIR` or /tmp.
    public var temporaryDirectory: String?
    /// Precision the models are loaded at: f32 (exact) or bf16 (weights resident as bf16).
    public var precision: Precision = .f32
    /// What the service may use; nil measures it before each load and job (`MemoryBudget.current()`).
    public var memoryBudget: (@Sendable () -> MemoryBudget)? = nil
    /// Where the engine reports what it did (model loads); by default nowhere.
    public var logger = Logger(label: "org.dynamicrafter.engine") { _ in SwiftLogNoOpLogHandler() }

    public init(maxQueueLength: Int = 8, jobRetention: Double = 60, threads: Int? = nil, backend: BackendKind? = nil,
                inputLimits: InputLimits = .default, outputStallTimeout: Double = 60, temporaryDirectory: String? = nil) {
        self.maxQueueLength = maxQueueLength
        self.jobRetention = jobRetention
        self.threads = threads
        self.backend = backend
        self.inputLimits = inputLimits
        self.outputStallTimeout = outputStallTimeout
        self.temporaryDirectory = temporaryDirectory
    }
}
