import DiffusionPipeline
import Foundation
import Imaging
import Logging
import MediaIO
import ModelStore
import TensorCore
import TensorStorage
import Weights

/// The worker thread: takes commands first, then jobs in order, and runs each to its end.
extension JobEngine {
    private enum Work {
        case command(EngineCommand)
        case job(JobWork)
        case stop
    }

    /// What the worker needs of a job, copied out from under the lock.
    struct JobWork: Sendable {
        let id: UInt64
        let entry: ModelEntry
        let settings: AnimationSettings
        let image: RGBImage
        let endImage: RGBImage?
        let output: OwnedDescriptor?
        let outputFormat: OutputFormat
        let control: JobControl
    }

    func workerLoop() {
        while true {
            wakeups.wait()
            let work: Work? = mutate { state, events in
                if !state.commands.isEmpty { return .command(state.commands.removeFirst()) }
                if state.shuttingDown { return .stop }
                while !state.queue.isEmpty {
                    let id = state.queue.removeFirst()
                    guard let job = state.jobs[id], job.snapshot.state == .queued, let image = job.image else { continue }
                    state.running = id
                    let needsLoad = state.loaded?.entry.weightsPath != job.entry.weightsPath
                    // Straight to loading, not busy first: the service's state follows the job's stage.
                    if needsLoad { state.loading = true }
                    update(id, state: &state, events: &events) { job in
                        job.snapshot.state = .running
                        job.snapshot.stage = needsLoad ? .loading : .encoding
                        job.image = nil
                        job.endImage = nil
                    }
                    return .job(JobWork(id: id, entry: job.entry, settings: job.settings, image: image, endImage: job.endImage,
                                        output: job.output, outputFormat: job.outputFormat, control: job.control))
                }
                return nil
            }
            switch work {
            case .none: continue
            case .stop: return
            case .command(let command): execute(command)
            case .job(let job): run(job)
            }
        }
    }

    private func execute(_ command: EngineCommand) {
        switch command {
        case .load(let entry, let completion):
            let result = Result { () throws(ServiceError) in _ = try residentModel(entry, forJob: nil) }
            // Reported after the LoadedModel/State changes the load produced.
            flushEvents()
            completion(result)
        case .unload(let completion):
            mutate { state, _ in state.loaded = nil }
            // The freed weights would otherwise wait in the pool for a model that may not come.
            ActivationMemory.releaseIdle()
            flushEvents()
            completion(.success(()))
        }
    }

    /// The model for `entry`, loading it (and dropping any other first, to bound memory) when it
    /// is not the resident one.
    private func residentModel(_ entry: ModelEntry, forJob id: UInt64?) throws(ServiceError) -> AnimationModel {
        let resident: AnimationModel? = mutate { state, events in
            if let loaded = state.loaded, loaded.entry.weightsPath == entry.weightsPath, loaded.entry.name == entry.name {
                return loaded.model
            }
            state.loaded = nil
            state.loading = true
            if let id { update(id, state: &state, events: &events) { $0.snapshot.stage = .loading } }
            return nil
        }
        if let resident { return resident }
        let model: AnimationModel
        do {
            // The previous model is gone by now; what is left must hold this one and a job of
            // its default length.
            try checkMemory(for: entry, frames: entry.defaultFrames, batch: 2, loaded: false)
        } catch {
            mutate { state, _ in state.loading = false }
            throw error
        }
        do {
            let (loaded, summary) = try AnimationModel.loadReporting(archive: WeightFile.open(entry.weightsPath), name: entry.name,
                                                                     config: entry.location.config, context: context)
            model = loaded
            configuration.logger.info("\(summary)")
        } catch {
            mutate { state, _ in state.loading = false }
            throw ServiceError(.modelLoadFailed, "cannot load model '\(entry.name)' from \(entry.weightsPath): \(error)")
        }
        mutate { state, _ in
            state.loading = false
            state.loaded = LoadedModel(entry: entry, model: model)
        }
        return model
    }

    func run(_ work: JobWork) {
        let outcome: Result<StoredFrames?, ServiceError>
        do {
            outcome = .success(try produce(work))
        } catch let error as ServiceError {
            outcome = .failure(Self.settle(error, control: work.control))
        } catch let error as AnimationError {
            switch error {
            case .cancelled: outcome = .failure(Self.settle(ServiceError(.cancelled, "the job was cancelled"), control: work.control))
            case .invalidOption: outcome = .failure(.invalidArgument("\(error)"))
            default: outcome = .failure(.internal("\(error)"))
            }
        } catch let error as MediaError {
            outcome = .failure(error.kind == .cancelled
                ? Self.settle(ServiceError(.cancelled, "the job was cancelled"), control: work.control)
                : .internal("writing the result failed: \(error)"))
        } catch {
            outcome = .failure(.internal("\(error)"))
        }
        work.output?.close()
        mutate { state, events in finish(work.id, outcome: outcome, state: &state, events: &events) }
    }

    /// A cancellation reports why it was asked for (by the caller, the caller leaving, shutdown).
    private static func settle(_ error: ServiceError, control: JobControl) -> ServiceError {
        guard control.isCancelled, let reason = control.cancellation else { return error }
        return error.kind == .cancelled || error.kind == .shuttingDown ? reason : error
    }

    /// Runs the pipeline and delivers the result; returns the frames to keep (nil when written out).
    private func produce(_ work: JobWork) throws -> StoredFrames? {
        let model = try residentModel(work.entry, forJob: work.id)
        if work.control.isCancelled { throw AnimationError.cancelled }
        let pipeline = AnimationPipeline(model: model)
        let image = try pipeline.prepareImage(work.image)
        let endImage = try work.endImage.map { try pipeline.prepareImage($0) }
        var noise = TorchRandom(seed: work.settings.seed)
        let clock = ProgressClock()
        var hooks = AnimationHooks()
        hooks.progress = { [self] progress in self.report(progress, of: work.id, clock: clock) }
        let control = work.control
        hooks.isCancelled = { control.isCancelled }
        let result = try pipeline.run(image: image, endImage: endImage, settings: work.settings, noise: &noise, hooks: hooks)
        let frames = StoredFrames(result.frames, fps: work.settings.outputFPS)
        guard let output = work.output else { return frames }
        mutate { state, events in
            update(work.id, state: &state, events: &events) { job in
                job.snapshot.stage = .writing
                let total = Double(job.snapshot.totalSteps + 3)
                job.snapshot.progress = max(job.snapshot.progress, (total - 1) / total)
                job.snapshot.remainingSeconds = clock.remaining(now: Date())
            }
        }
        try write(frames, to: output, format: work.outputFormat, job: work.id, control: control)
        return nil
    }

    private func report(_ progress: AnimationProgress, of id: UInt64, clock: ProgressClock) {
        let now = Date()
        if let remaining = progress.remaining { clock.measured(remaining, at: now) }
        mutate { state, events in
            update(id, state: &state, events: &events) { job in
                switch progress.stage {
                case .encoding: job.snapshot.stage = .encoding
                case .denoising: job.snapshot.stage = .denoising
                case .decoding: job.snapshot.stage = .decoding
                }
                job.snapshot.step = progress.step
                job.snapshot.totalSteps = progress.totalSteps
                job.snapshot.progress = max(job.snapshot.progress, progress.fraction)
                job.snapshot.remainingSeconds = clock.remaining(now: now)
            }
        }
    }

    /// Writes the result into the client's descriptor: raw frames as they are, anything else
    /// encoded first into the private folder (the encoders write files) and then copied.
    private func write(_ frames: StoredFrames, to output: OwnedDescriptor, format: OutputFormat, job id: UInt64, control: JobControl) throws {
        let fd = output.rawValue
        let stall = configuration.outputStallTimeout
        let cancelled = { control.isCancelled }
        if format == .raw {
            try frames.packed.withUnsafeBytes { bytes in
                try DescriptorIO.writeAll(fd, bytes, what: "output", stallTimeout: stall, isCancelled: cancelled)
            }
            return
        }
        guard let videoFormat = VideoFormat(rawValue: format.rawValue) else {
            throw ServiceError.internal("no encoder for \(format.rawValue)")
        }
        let path = "\(temporaryDirectory)/job-\(id).\(format.rawValue)"
        defer { unlink(path) }
        var images: [RGBImage] = []
        let frameBytes = frames.width * frames.height * 3
        for index in 0..<frames.count {
            let start = index * frameBytes
            images.append(try RGBImage(width: frames.width, height: frames.height,
                                               pixels: Array(frames.packed[start..<(start + frameBytes)])))
        }
        try VideoEncoder.write(frames: images, fps: frames.fps, to: path, format: videoFormat, isCancelled: { control.isCancelled })
        let encoded: Data
        do {
            encoded = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw ServiceError.internal("cannot read back the encoded clip: \(error.localizedDescription)")
        }
        try encoded.withUnsafeBytes { bytes in
            try DescriptorIO.writeAll(fd, bytes, what: "output", stallTimeout: stall, isCancelled: cancelled)
        }
    }
}

/// Remaining-time bookkeeping for one run: the pipeline estimates it after every step; between
/// estimates (while decoding and writing) the last one counts down with the clock.
final class ProgressClock: @unchecked Sendable {
    // Only touched on the worker thread.
    private var estimate: (seconds: Double, at: Date)?

    func measured(_ seconds: Double, at now: Date) {
        estimate = (seconds, now)
    }

    /// -1 until a step has been measured.
    func remaining(now: Date) -> Double {
        guard let estimate else { return -1 }
        return max(0, estimate.seconds - now.timeIntervalSince(estimate.at))
    }
}
