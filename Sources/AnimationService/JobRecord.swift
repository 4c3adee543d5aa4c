import DiffusionPipeline
import Imaging
import Synchronization
import TensorCore

/// The cancellation flag of one job, polled by the worker between network blocks, and the
/// reason given by whoever set it first.
final class JobControl: Sendable {
    private let flag = Atomic<Bool>(false)
    private let reason = Mutex<ServiceError?>(nil)

    func cancel(_ why: ServiceError) {
        reason.withLock { if $0 == nil { $0 = why } }
        flag.store(true, ordering: .releasing)
    }

    var isCancelled: Bool { flag.load(ordering: .acquiring) }
    var cancellation: ServiceError? { reason.withLock { $0 } }
}

/// A result kept for `takeFrames`: frames of one size, packed RGB.
struct StoredFrames: Sendable {
    let width: Int
    let height: Int
    let count: Int
    let fps: Int
    /// Every frame's pixels, frame after frame.
    let packed: [UInt8]

    init(_ frames: [RGBImage], fps: Int) {
        width = frames.first?.width ?? 0
        height = frames.first?.height ?? 0
        count = frames.count
        self.fps = fps
        var bytes: [UInt8] = []
        bytes.reserveCapacity(width * height * 3 * frames.count)
        for frame in frames { bytes.append(contentsOf: frame.pixels) }
        packed = bytes
    }
}

/// A descriptor the engine owns (a duplicate of the client's) and closes once.
final class OwnedDescriptor: Sendable {
    private let fd = Mutex<Int32>(-1)

    init(_ descriptor: Int32) { fd.withLock { $0 = descriptor } }

    deinit { close() }

    var rawValue: Int32 { fd.withLock { $0 } }

    func close() {
        let value = fd.withLock { fd in
            defer { fd = -1 }
            return fd
        }
        if value >= 0 { _ = systemClose(value) }
    }
}

/// Everything the engine keeps about one job.
struct JobRecord: Sendable {
    var snapshot: JobSnapshot
    let control: JobControl
    let entry: ModelEntry
    let settings: AnimationSettings
    /// The input, prepared at the model's frame size; dropped once the job starts.
    var image: RGBImage?
    var endImage: RGBImage?
    let output: OwnedDescriptor?
    let outputFormat: OutputFormat
    /// The result for `takeFrames`; nil before, after taking, or when written to `output`.
    var frames: StoredFrames?
    var framesTaken = false
}
