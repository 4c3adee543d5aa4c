import DiffusionPipeline
import DynamiCrafterModel
import Foundation
import Imaging
import MediaIO
import ModelStore
import Synchronization
import TensorCore

/// The animation service without any transport: a bounded first-in-first-out queue of jobs
/// run one at a time on one dedicated worker thread (never the Swift cooperative pool: a job
/// is seconds to minutes of synchronous CPU work), the loaded model kept resident between
/// jobs, per-job progress, cancellation, results kept for a while, and a graceful shutdown.
///
/// Thread safety: every method may be called from any thread. All state lives behind one lock;
/// every change is reported to the observer as an `EngineEvent`, delivered in the order the
/// changes happened on a private serial queue (so observers never run under the lock and never
/// on the worker thread).
///
/// `submit` reads and decodes the input image before it returns, so it blocks for as long as
/// that takes: call it off any thread that must stay responsive.
public final class JobEngine: Sendable {
    public let registry: ModelRegistry
    public let configuration: EngineConfiguration
    /// The compute backend's name (onednn, openblas).
    public let backendName: String
    /// The precision models are loaded at.
    public let precision: Precision
    let context: ComputeContext
    let reader: ImageReader
    /// A private (0700) folder where results are encoded before they are copied out.
    let temporaryDirectory: String

    let state: Mutex<EngineState>
    private let observer = Mutex<(@Sendable (EngineEvent) -> Void)?>(nil)
    private let events = DispatchQueue(label: "AnimationService.events")
    private let timers = DispatchQueue(label: "AnimationService.retention")
    /// Signalled once per piece of work (job queued, command, shutdown); the worker waits on it.
    let wakeups = DispatchSemaphore(value: 0)
    private let workerExited = DispatchSemaphore(value: 0)

    /// Makes the compute backend and the temporary folder and starts the worker thread.
    public init(registry: ModelRegistry, configuration: EngineConfiguration = EngineConfiguration()) throws(ServiceError) {
        self.registry = registry
        self.configuration = configuration
        Threading.configure(threads: configuration.threads)
        let backend: any ComputeBackend
        do {
            backend = try configuration.backend.map { try ComputeBackends.make($0) } ?? ComputeBackends.makeDefault()
        } catch {
            throw .internal("cannot start the \(configuration.backend?.rawValue ?? "default") compute backend: \(error)")
        }
        backendName = backend.kind.rawValue
        context = ComputeContext(backend: backend, precision: configuration.precision)
        precision = configuration.precision
        reader = ImageReader(limits: configuration.inputLimits)
        temporaryDirectory = try Self.makePrivateDirectory(in: configuration.temporaryDirectory)
        state = Mutex(EngineState())
        let thread = Thread { [self] in
            DescriptorIO.blockBrokenPipeSignal()
            self.workerLoop()
            self.workerExited.signal()
        }
        thread.name = "dynamicrafter-worker"
        // Deep model code on a thread of its own: give it the main thread's usual stack.
        thread.stackSize = 16 << 20
        thread.start()
    }

    /// Sets the function told about every change (replacing any earlier one).
    public func setObserver(_ observer: (@Sendable (EngineEvent) -> Void)?) {
        self.observer.withLock { $0 = observer }
    }

    /// Waits until every event so far has been delivered to the observer.
    public func flushEvents() {
        events.sync {}
    }

    // MARK: - Queries

    public var status: ServiceStatus { state.withLock { $0.status } }

    public func snapshot(of id: UInt64) -> JobSnapshot? {
        state.withLock { $0.jobs[id]?.snapshot }
    }

    /// Every job the engine holds, oldest first.
    public var jobs: [JobSnapshot] {
        state.withLock { $0.jobs.values.map(\.snapshot).sorted { $0.id < $1.id } }
    }

    /// The installed models, with which one is loaded and which is the default.
    public func models() -> [ModelInfo] {
        let all = registry.models()
        let defaultName = registry.defaultName(among: all)
        let loaded = status.loadedModel
        return all.map { entry in
            let estimate = (try? MemoryEstimate(config: entry.location.config))?
                .totalBytes(precision: precision, frames: entry.defaultFrames)
            return ModelInfo(entry: entry, isLoaded: entry.name == loaded, isDefault: entry.name == defaultName,
                             precision: precision, estimatedBytes: estimate ?? 0)
        }
    }

    // MARK: - Jobs

    /// Throws what `submit` would throw right now for a full queue or a stopping service: a
    /// cheap early refusal before any work is spent on a request (submit checks again).
    public func checkAccepting() throws(ServiceError) {
        try state.withLock { (state: inout EngineState) throws(ServiceError) in
            try state.checkAccepting(limit: configuration.maxQueueLength)
        }
    }

    /// Checks the request against the model that will run it, reads and prepares the image(s),
    /// and queues the job. Throws Busy when the queue is full, ShuttingDown once shutdown has
    /// begun, ModelNotFound, InvalidArgument or InvalidImage for what the request got wrong.
    @discardableResult
    public func submit(_ request: AnimationRequest) throws(ServiceError) -> JobSnapshot {
        // Reading holds no place in the queue (a client whose pipe never closes must not lock
        // everyone out); a full queue is refused before reading and checked again after. Each
        // caller may have `maxReadsPerCaller` reads going, which can be abandoned when it leaves.
        let ticket = IntakeTicket(owner: request.owner)
        let loadedName: String = try mutate { state, _ throws(ServiceError) in
            try state.checkAccepting(limit: configuration.maxQueueLength)
            try state.checkReads(of: request.owner, perCaller: configuration.maxReadsPerCaller, all: configuration.maxReads)
            state.reading[ObjectIdentifier(ticket)] = ticket
            return state.loadedModelName
        }
        defer { mutate { state, _ in _ = state.reading.removeValue(forKey: ObjectIdentifier(ticket)) } }

        let entry = try registry.entry(named: request.model ?? (loadedName.isEmpty ? nil : loadedName))
        let settings = try Self.settings(for: request, entry: entry)
        try checkMemory(for: entry, frames: settings.frames, batch: Self.guidanceBatch(settings),
                        loaded: loadedName == entry.name)
        if let output = request.output {
            try DescriptorIO.checkWritable(output.fileDescriptor, what: "output")
            if output.format != .raw, let format = VideoFormat(rawValue: output.format.rawValue), !VideoEncoder.isAvailable(format) {
                throw .invalidArgument("output-format \(output.format.rawValue) needs GStreamer elements that are not installed on this system; use another format")
            }
        }
        let image = try reader.read(request.image, what: "image", fittingWidth: entry.frameWidth, height: entry.frameHeight, ticket: ticket)
        var endImage: RGBImage?
        if let source = request.endImage {
            endImage = try reader.read(source, what: "end image", fittingWidth: entry.frameWidth, height: entry.frameHeight, ticket: ticket)
        }
        if let abandoned = ticket.abandoned { throw abandoned }
        var output: OwnedDescriptor?
        if let requested = request.output {
            let copy = fcntl(requested.fileDescriptor, F_DUPFD_CLOEXEC, 0)
            guard copy >= 0 else { throw .invalidArgument("the output descriptor is not usable: \(DescriptorIO.errnoText())") }
            output = OwnedDescriptor(copy)
        }

        let snapshot: JobSnapshot = try mutate { state, events throws(ServiceError) in
            do throws(ServiceError) {
                if let abandoned = ticket.abandoned { throw abandoned }
                try state.checkAccepting(limit: configuration.maxQueueLength)
            } catch {
                output?.close()
                throw error
            }
            let id = state.nextID
            state.nextID += 1
            let snapshot = JobSnapshot(
                id: id, owner: request.owner, state: .queued, stage: .none, progress: 0, step: 0,
                totalSteps: settings.steps, remainingSeconds: -1, error: nil, hasOutput: output != nil)
            state.jobs[id] = JobRecord(
                snapshot: snapshot, control: JobControl(), entry: entry, settings: settings, image: image,
                endImage: endImage, output: output, outputFormat: request.output?.format ?? .mp4)
            state.queue.append(id)
            events.append(.jobAdded(snapshot))
            return snapshot
        }
        wakeups.signal()
        return snapshot
    }

    /// Cancels a job: a queued one ends at once, a running one within one network block.
    /// Returns false when there is no such job or it had already ended.
    @discardableResult
    public func cancel(job id: UInt64) -> Bool {
        cancel([id], reason: ServiceError(.cancelled, "the job was cancelled by its caller"))
    }

    /// Makes every image read in progress give up (within 0.1 s) and its submit fail with
    /// ShuttingDown: the first step of a shutdown, so that every Animate gets its answer.
    public func abandonReads() {
        state.withLock { $0.abandonReads(Self.stoppingWhileReading) }
    }

    /// Makes the image reads of `owner` (e.g. a client that went away) give up within 0.1 s;
    /// returns how many there were.
    @discardableResult
    public func abandonReads(ownedBy owner: String, reason: String) -> Int {
        state.withLock { state in
            let tickets = state.reading.values.filter { $0.owner == owner }
            for ticket in tickets { ticket.abandon(ServiceError(.cancelled, reason)) }
            return tickets.count
        }
    }

    static let stoppingWhileReading = ServiceError(.shuttingDown, "the daemon is stopping; the image was not read (submit it again once the daemon is back)")

    /// Cancels every unfinished job of `owner` (e.g. a client that went away); returns how many.
    @discardableResult
    public func cancelJobs(ownedBy owner: String, reason: String) -> Int {
        let ids = state.withLock { state in
            state.jobs.values.filter { $0.snapshot.owner == owner && !$0.snapshot.state.isFinal }.map(\.snapshot.id)
        }
        guard !ids.isEmpty else { return 0 }
        cancel(ids.sorted(), reason: ServiceError(.cancelled, reason))
        return ids.count
    }

    @discardableResult
    private func cancel(_ ids: [UInt64], reason: ServiceError) -> Bool {
        mutate { state, events in
            var any = false
            for id in ids {
                guard let job = state.jobs[id], !job.snapshot.state.isFinal else { continue }
                any = true
                if job.snapshot.state == .queued {
                    state.queue.removeAll { $0 == id }
                    finish(id, outcome: .failure(reason), state: &state, events: &events)
                } else {
                    job.control.cancel(reason)
                }
            }
            return any
        }
    }

    /// Hands over a finished job's frames (once). Busy while it runs; its own error when it
    /// failed; InvalidArgument when its result went to an output descriptor or was taken.
    public func takeFrames(of id: UInt64) throws(ServiceError) -> FramesHandoff {
        let frames: StoredFrames = try mutate { state, _ throws(ServiceError) in
            guard var job = state.jobs[id] else { throw .invalidArgument("there is no job \(id) (finished jobs are removed after \(Int(configuration.jobRetention)) s)") }
            switch job.snapshot.state {
            case .queued, .running:
                throw .busy("job \(id) is still \(job.snapshot.state.rawValue); wait for its Completed signal")
            case .failed, .cancelled:
                throw job.snapshot.error ?? .internal("job \(id) failed")
            case .done:
                guard !job.snapshot.hasOutput else {
                    throw .invalidArgument("job \(id) wrote its result to its output descriptor; there are no frames to take")
                }
                guard let frames = job.frames, !job.framesTaken else {
                    throw .invalidArgument("the frames of job \(id) were already taken")
                }
                job.frames = nil
                job.framesTaken = true
                state.jobs[id] = job
                return frames
            }
        }
        do {
            let fd = try SealedMemoryFile.make(name: "dynamicrafter-job-\(id)", bytes: frames.packed)
            return FramesHandoff(fileDescriptor: fd, width: frames.width, height: frames.height, frameCount: frames.count, fps: frames.fps)
        } catch {
            // Put them back: the failure was ours, the client may try again.
            mutate { state, _ in
                state.jobs[id]?.frames = frames
                state.jobs[id]?.framesTaken = false
            }
            throw error
        }
    }

    // MARK: - Models

    /// Loads the named model (replacing the loaded one) on the worker; `completion` runs once
    /// it is resident or failed. Busy while jobs are queued or running.
    public func loadModel(named name: String, completion: @escaping @Sendable (Result<Void, ServiceError>) -> Void) {
        guard !name.isEmpty else {
            return completion(.failure(.invalidArgument("the model name is empty; GetModels lists the installed models")))
        }
        let entry: ModelEntry
        do {
            entry = try registry.entry(named: name)
        } catch {
            return completion(.failure(error))
        }
        enqueue(.load(entry, completion), completion: completion)
    }

    /// Frees the loaded model on the worker; Busy while jobs are queued or running.
    public func unloadModel(completion: @escaping @Sendable (Result<Void, ServiceError>) -> Void) {
        enqueue(.unload(completion), completion: completion)
    }

    private func enqueue(_ command: EngineCommand, completion: @escaping @Sendable (Result<Void, ServiceError>) -> Void) {
        let refusal: ServiceError? = mutate { state, _ in
            if state.shuttingDown { return ServiceError(.shuttingDown, "the daemon is stopping") }
            let active = state.queue.count + (state.running == nil ? 0 : 1)
            if active > 0 {
                return .busy("\(active) job(s) are queued or running; models can be loaded or unloaded only when the service is idle")
            }
            state.commands.append(command)
            return nil
        }
        if let refusal { return completion(.failure(refusal)) }
        wakeups.signal()
    }

    // MARK: - Shutdown

    /// Stops accepting work, fails queued jobs and pending commands with ShuttingDown, cancels
    /// the running job, and waits up to `grace` seconds for the worker to stop. Returns whether
    /// it stopped in time; events are delivered either way. May be called more than once.
    @discardableResult
    public func shutdown(grace: Double) -> Bool {
        mutate { state, events in
            guard !state.shuttingDown else { return }
            state.shuttingDown = true
            state.abandonReads(Self.stoppingWhileReading)
            let stopping = ServiceError(.shuttingDown, "the daemon is stopping; the job was not started (submit it again once the daemon is back)")
            for id in state.queue {
                finish(id, outcome: .failure(stopping), state: &state, events: &events)
            }
            state.queue.removeAll()
            if let running = state.running {
                state.jobs[running]?.control.cancel(ServiceError(.shuttingDown, "the daemon is stopping; the job was stopped before it finished"))
            }
            let commands = state.commands
            state.commands.removeAll()
            for command in commands {
                let completion = command.completion
                self.events.async { completion(.failure(ServiceError(.shuttingDown, "the daemon is stopping"))) }
            }
        }
        wakeups.signal()
        let stopped = workerExited.wait(timeout: .now() + max(0, grace)) == .success
        if stopped {
            workerExited.signal() // for a later call
            try? FileManager.default.removeItem(atPath: temporaryDirectory)
        }
        flushEvents()
        return stopped
    }

    // MARK: - Internals shared with the worker

    /// Runs `body` under the lock, then reports a status change (if any) after the events
    /// `body` produced, and hands all of them to the event queue before the lock is released,
    /// so observers see changes in the order they were made.
    func mutate<R: Sendable, E: Error>(_ body: (inout EngineState, inout [EngineEvent]) throws(E) -> R) throws(E) -> R {
        try state.withLock { (state: inout EngineState) throws(E) -> R in
            var produced: [EngineEvent] = []
            let before = state.status
            let result: R
            do throws(E) {
                result = try body(&state, &produced)
            } catch {
                deliver(produced, statusBefore: before, after: state.status)
                throw error
            }
            deliver(produced, statusBefore: before, after: state.status)
            return result
        }
    }

    private func deliver(_ produced: [EngineEvent], statusBefore: ServiceStatus, after: ServiceStatus) {
        let all = statusBefore == after ? produced : produced + [.statusChanged(old: statusBefore, new: after)]
        guard !all.isEmpty else { return }
        events.async { [self] in
            guard let observe = observer.withLock({ $0 }) else { return }
            for event in all { observe(event) }
        }
    }

    /// Applies `change` to a job and reports the properties that changed.
    func update(_ id: UInt64, state: inout EngineState, events: inout [EngineEvent], _ change: (inout JobRecord) -> Void) {
        guard var job = state.jobs[id] else { return }
        let before = job.snapshot
        change(&job)
        state.jobs[id] = job
        let changed = job.snapshot.changes(from: before)
        if !changed.isEmpty { events.append(.jobChanged(job.snapshot, changed: changed)) }
    }

    /// Ends a job (queued or running) and schedules its removal.
    func finish(_ id: UInt64, outcome: Result<StoredFrames?, ServiceError>, state: inout EngineState, events: inout [EngineEvent]) {
        if state.running == id { state.running = nil }
        update(id, state: &state, events: &events) { job in
            job.image = nil
            job.endImage = nil
            job.output?.close()
            job.snapshot.remainingSeconds = 0
            switch outcome {
            case .success(let frames):
                job.frames = frames
                job.snapshot.state = .done
                job.snapshot.progress = 1
            case .failure(let error):
                job.snapshot.error = error
                job.snapshot.state = error.kind == .cancelled ? .cancelled : .failed
            }
        }
        guard let snapshot = state.jobs[id]?.snapshot else { return }
        events.append(.jobCompleted(snapshot))
        let retention = configuration.jobRetention
        timers.asyncAfter(deadline: .now() + max(0, retention)) { [weak self] in self?.remove(id) }
    }

    private func remove(_ id: UInt64) {
        mutate { state, events in
            guard let job = state.jobs.removeValue(forKey: id) else { return }
            events.append(.jobRemoved(id: id, owner: job.snapshot.owner))
        }
    }

    // MARK: - Helpers

    static func settings(for request: AnimationRequest, entry: ModelEntry) throws(ServiceError) -> AnimationSettings {
        guard request.options.prompt.utf8.count <= 4096 else {
            throw .invalidArgument("prompt is \(request.options.prompt.utf8.count) bytes long; at most 4096 bytes are accepted")
        }
        let settings: AnimationSettings
        do {
            settings = try AnimationSettings(options: request.options, defaults: entry.location.defaults)
        } catch let error as AnimationError {
            throw .invalidArgument("\(error) (model \(entry.name))")
        } catch {
            throw .invalidArgument("\(error)")
        }
        // The step count must select timesteps inside the model's schedule (e.g. 1000 steps with
        // uniform spacing do not): found now rather than when the job runs.
        do {
            let p = entry.location.config.params
            let schedule = try NoiseSchedule(timesteps: p.timesteps, linearStart: p.linearStart, linearEnd: p.linearEnd,
                                             rescaleZeroTerminalSNR: p.rescaleBetasZeroSnr)
            _ = try DDIMSchedule(schedule: schedule, steps: settings.steps, spacing: settings.timestepSpacing, eta: settings.eta)
        } catch {
            throw .invalidArgument("steps \(settings.steps) does not fit model \(entry.name): \(error)")
        }
        switch settings.mode {
        case .interpolate:
            guard request.endImage != nil else {
                let why = request.options.mode == nil ? " (interpolate is the default mode of model \(entry.name))" : ""
                throw .invalidArgument("mode interpolate needs end-image, the last frame\(why)")
            }
        case .animate, .loop:
            guard request.endImage == nil else {
                throw .invalidArgument("end-image is only used with mode interpolate, not \(settings.mode.rawValue)")
            }
        }
        return settings
    }

    private static func makePrivateDirectory(in parent: String?) throws(ServiceError) -> String {
        let environment = ProcessInfo.processInfo.environment
        let base = parent ?? environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        var template = Array((base + "/dynamicrafterd-XXXXXX").utf8CString)
        let made = template.withUnsafeMutableBufferPointer { buffer in mkdtemp(buffer.baseAddress!) }
        guard let made else {
            throw .internal("cannot create a private temporary folder in \(base): \(DescriptorIO.errnoText())")
        }
        return String(cString: made)
    }
}

/// Work for the worker besides jobs.
enum EngineCommand: Sendable {
    case load(ModelEntry, @Sendable (Result<Void, ServiceError>) -> Void)
    case unload(@Sendable (Result<Void, ServiceError>) -> Void)

    var completion: @Sendable (Result<Void, ServiceError>) -> Void {
        switch self {
        case .load(_, let completion), .unload(let completion): completion
        }
    }
}

/// A model in memory.
struct LoadedModel: Sendable {
    let entry: ModelEntry
    let model: AnimationModel
}

/// Everything behind the engine's lock.
struct EngineState: Sendable {
    var jobs: [UInt64: JobRecord] = [:]
    var queue: [UInt64] = []
    var running: UInt64?
    var commands: [EngineCommand] = []
    var loaded: LoadedModel?
    /// The worker is loading a model.
    var loading = false
    /// Submissions reading their images (no place in the queue held).
    var reading: [ObjectIdentifier: IntakeTicket] = [:]
    var nextID: UInt64 = 1
    var shuttingDown = false

    var loadedModelName: String { loaded?.entry.name ?? "" }

    var status: ServiceStatus {
        ServiceStatus(state: loading ? .loading : (running == nil ? .idle : .busy),
                      loadedModel: loadedModelName, queueLength: queue.count, jobCount: jobs.count)
    }

    func checkAccepting(limit: Int) throws(ServiceError) {
        if shuttingDown {
            throw ServiceError(.shuttingDown, "the daemon is stopping and accepts no new jobs; try again once it is back")
        }
        if queue.count >= limit {
            throw .busy("the queue is full: \(queue.count) jobs waiting, the most it holds; try again when a job has finished")
        }
    }

    /// Makes every read in progress give up with `error` (under the engine's lock).
    func abandonReads(_ error: ServiceError) {
        for ticket in reading.values { ticket.abandon(error) }
    }

    func checkReads(of owner: String, perCaller: Int, all: Int) throws(ServiceError) {
        let own = reading.values.count { $0.owner == owner }
        if own >= perCaller {
            throw .busy("this connection already has \(own) images being read, the most allowed at once; finish writing them (close the writing end) or wait for their replies")
        }
        if reading.count >= all {
            throw .busy("\(reading.count) images are being read for other callers, the most at once; try again in a moment")
        }
    }
}
