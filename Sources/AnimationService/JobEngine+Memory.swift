import DiffusionPipeline
import ModelStore
import Synchronization
import TensorCore

/// The memory budget: a model or job that cannot fit is refused with `InsufficientMemory`
/// (both figures and what would fit) before anything is loaded or queued, so the service is
/// never killed by the kernel's OOM killer and goes on serving.
extension JobEngine {
    /// The budget now: the configured one (tests inject it) or what the system and the cgroup give.
    func memoryBudget() -> MemoryBudget {
        configuration.memoryBudget?() ?? MemoryBudget.current()
    }

    /// UNet batch of a job: 1 without guidance, 2 with, 3 with separate image guidance.
    static func guidanceBatch(_ settings: AnimationSettings) -> Int {
        settings.guidanceScale == 1 ? 1 : (settings.imageGuidanceScale == nil ? 2 : 3)
    }

    /// Refuses a job whose working memory (and the model's weights, when `entry` is not the
    /// resident model) does not fit. A resident model of another name is dropped before this
    /// one loads, so its weights count as available.
    func checkMemory(for entry: ModelEntry, frames: Int, batch: Int, loaded: Bool) throws(ServiceError) {
        let budget = memoryBudget()
        guard var available = budget.availableBytes else { return }
        let precision = configuration.precision
        let estimate: MemoryEstimate
        do {
            estimate = try MemoryEstimate(config: entry.location.config)
        } catch {
            throw ServiceError(.internal, "cannot estimate the memory of '\(entry.name)': \(error)")
        }
        let needed = loaded ? estimate.workingBytes(frames: frames, batch: batch)
            : estimate.totalBytes(precision: precision, frames: frames, batch: batch)
        if !loaded, let other = residentEntry(), let resident = try? MemoryEstimate(config: other.location.config) {
            available += resident.weightBytes(precision: precision)
        }
        guard needed > available else { return }
        let what = loaded ? "a job of \(frames) frames on '\(entry.name)'"
            : "'\(entry.name)' at \(precision.rawValue) with a job of \(frames) frames"
        let refusal = InsufficientMemoryError(
            what: what, neededBytes: needed, availableBytes: available, source: budget.source,
            suggestion: estimate.suggestion(precision: precision, frames: frames, available: available, batch: batch, daemon: true))
        throw ServiceError(.insufficientMemory, refusal.description)
    }

    /// The entry of the resident model, if any.
    func residentEntry() -> ModelEntry? {
        state.withLock { $0.loaded?.entry }
    }
}
