import AnimationService
import DiffusionPipeline
import Foundation
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite("Job lifecycle", .serialized)
struct JobLifecycleTests {
    @Test("a job runs through its stages with monotonic progress and keeps its frames for TakeFrames")
    func jobEndToEnd() throws {
        let fixture = try EngineFixture()
        defer { fixture.close() }
        let fd = try TestInput.descriptor(holding: try TestInput.png(width: 80, height: 60))
        defer { close(fd) }
        let started = Date()
        let job = try fixture.engine.submit(AnimationRequest(
            owner: "client", options: EngineFixture.quickOptions(steps: 2), image: .encoded(fileDescriptor: fd)))
        #expect(job.state == .queued)
        #expect(job.totalSteps == 2)
        #expect(job.remainingSeconds == -1)
        let done = try fixture.log.waitForCompletion(of: job.id)
        print("first job (with model load): \(String(format: "%.2f", Date().timeIntervalSince(started))) s")
        #expect(done.state == .done)
        #expect(done.progress == 1)
        #expect(done.remainingSeconds == 0)
        #expect(done.error == nil)

        let changes = fixture.log.changes(of: job.id)
        let stages = changes.map(\.stage).reduce(into: [JobStage]()) { if $0.last != $1 { $0.append($1) } }
        #expect(stages == [.loading, .encoding, .denoising, .decoding])
        let progress = changes.map(\.progress)
        #expect(progress == progress.sorted(), "progress went backwards: \(progress)")
        #expect(changes.map(\.step).max() == 2)
        #expect(changes.contains { $0.stage == .denoising && $0.remainingSeconds > 0 })

        let frames = try fixture.engine.takeFrames(of: job.id)
        defer { close(frames.fileDescriptor) }
        #expect(frames.width == 64 && frames.height == 64 && frames.frameCount == 2)
        #expect(frames.fps == 8)
        let bytes = TestInput.readAll(frames.fileDescriptor)
        #expect(bytes.count == 2 * 64 * 64 * 3)
        // Read-only and sealed: nobody can change what was handed out.
        #expect(write(frames.fileDescriptor, [UInt8(1)], 1) == -1)
        #expect(fcntl(frames.fileDescriptor, 1034) & 0x8 != 0) // F_GET_SEALS has F_SEAL_WRITE
        #expect(serviceError { try fixture.engine.takeFrames(of: job.id) }?.kind == .invalidArgument)
    }
}

@Suite("Queue and cancellation", .serialized)
struct QueueTests {
    /// A job long enough to be caught while running (many steps), cancelled by the test.
    static func longOptions() -> AnimationOptions {
        EngineFixture.quickOptions(steps: 500)
    }

    @Test("jobs run one at a time in submission order; the model is loaded once")
    func queueOrder() throws {
        let fixture = try EngineFixture()
        defer { fixture.close() }
        let png = try TestInput.png(width: 64, height: 64)
        var ids: [UInt64] = []
        for seed in 1...3 {
            let fd = try TestInput.descriptor(holding: png)
            defer { close(fd) }
            ids.append(try fixture.engine.submit(AnimationRequest(
                owner: "client", options: EngineFixture.quickOptions(seed: UInt64(seed)), image: .encoded(fileDescriptor: fd))).id)
        }
        for id in ids { #expect(try fixture.log.waitForCompletion(of: id).state == .done) }
        #expect(fixture.log.startOrder == ids)
        #expect(fixture.log.completedOrder == ids)
        // Only the first job loaded the model.
        let loaded = ids.map { id in fixture.log.changes(of: id).contains { $0.stage == .loading } }
        #expect(loaded == [true, false, false])
        // Never two running at once: each start follows the previous completion.
        let events = fixture.log.all
        var running = 0
        for event in events {
            if case .jobChanged(let s, let changed) = event, changed.contains(.state), s.state == .running { running += 1 }
            if case .jobCompleted = event { running -= 1 }
            #expect(running <= 1)
        }
        #expect(fixture.engine.status.loadedModel == "demo")
        #expect(fixture.engine.status.queueLength == 0)
    }

    @Test("a full queue refuses with Busy; queued and running jobs can be cancelled")
    func busyAndCancel() throws {
        let fixture = try EngineFixture(queueLength: 2)
        defer { fixture.close() }
        let png = try TestInput.png(width: 64, height: 64)
        func submit(_ options: AnimationOptions) throws -> JobSnapshot {
            let fd = try TestInput.descriptor(holding: png)
            defer { close(fd) }
            return try fixture.engine.submit(AnimationRequest(owner: "client", options: options, image: .encoded(fileDescriptor: fd)))
        }
        let running = try submit(Self.longOptions())
        fixture.log.wait { $0.changes(of: running.id).contains { $0.stage == .denoising && $0.step >= 1 } }
        let queued1 = try submit(EngineFixture.quickOptions())
        let queued2 = try submit(EngineFixture.quickOptions())
        #expect(fixture.engine.status.queueLength == 2)
        #expect(fixture.engine.status.state == .busy)
        let refused = serviceError { try submit(EngineFixture.quickOptions()) }
        #expect(refused?.kind == .busy)
        #expect(serviceError { try fixture.engine.checkAccepting() }?.kind == .busy)
        #expect(refused?.message.contains("queue is full") == true)

        // Cancelling a queued job ends it at once; it never runs.
        #expect(fixture.engine.cancel(job: queued1.id))
        let cancelledQueued = try fixture.log.waitForCompletion(of: queued1.id, timeout: 5)
        #expect(cancelledQueued.state == .cancelled)
        #expect(cancelledQueued.error?.kind == .cancelled)
        #expect(fixture.engine.status.queueLength == 1)

        // Cancelling the running job stops it within a network block, not at the end of a step.
        let asked = Date()
        #expect(fixture.engine.cancel(job: running.id))
        let cancelledRunning = try fixture.log.waitForCompletion(of: running.id, timeout: 30)
        let latency = Date().timeIntervalSince(asked)
        print("cancel → completed (running job, debug build): \(String(format: "%.3f", latency)) s")
        #expect(cancelledRunning.state == .cancelled)
        #expect(cancelledRunning.error?.kind == .cancelled)
        #expect(cancelledRunning.step < 500)
        #expect(latency < 2.0)
        #expect(serviceError { try fixture.engine.takeFrames(of: running.id) }?.kind == .cancelled)
        #expect(!fixture.engine.cancel(job: running.id), "cancelling a finished job does nothing")

        // The queue moves on.
        #expect(try fixture.log.waitForCompletion(of: queued2.id).state == .done)
        #expect(fixture.log.startOrder == [running.id, queued2.id])
    }

    @Test("all jobs of an owner that went away are cancelled, others are not")
    func cancelByOwner() throws {
        let fixture = try EngineFixture()
        defer { fixture.close() }
        let png = try TestInput.png(width: 64, height: 64)
        func submit(_ owner: String, _ options: AnimationOptions) throws -> JobSnapshot {
            let fd = try TestInput.descriptor(holding: png)
            defer { close(fd) }
            return try fixture.engine.submit(AnimationRequest(owner: owner, options: options, image: .encoded(fileDescriptor: fd)))
        }
        let gone1 = try submit("gone", Self.longOptions())
        let gone2 = try submit("gone", EngineFixture.quickOptions())
        let stays = try submit("stays", EngineFixture.quickOptions())
        fixture.log.wait { $0.changes(of: gone1.id).contains { $0.stage == .denoising } }
        #expect(fixture.engine.cancelJobs(ownedBy: "gone", reason: "its caller left the bus") == 2)
        let first = try fixture.log.waitForCompletion(of: gone1.id, timeout: 30)
        #expect(first.state == .cancelled)
        #expect(first.error?.message == "its caller left the bus")
        #expect(try fixture.log.waitForCompletion(of: gone2.id, timeout: 5).state == .cancelled)
        #expect(try fixture.log.waitForCompletion(of: stays.id).state == .done)
    }

    @Test("finished jobs are removed after the retention time")
    func retention() throws {
        let fixture = try EngineFixture(retention: 0.5)
        defer { fixture.close() }
        let fd = try TestInput.descriptor(holding: try TestInput.png(width: 64, height: 64))
        defer { close(fd) }
        let job = try fixture.engine.submit(AnimationRequest(owner: "c", options: EngineFixture.quickOptions(), image: .encoded(fileDescriptor: fd)))
        _ = try fixture.log.waitForCompletion(of: job.id)
        let finished = Date()
        #expect(fixture.engine.snapshot(of: job.id) != nil)
        let removed = fixture.log.wait(timeout: 10) { log in
            log.all.contains { if case .jobRemoved(let id, let owner) = $0 { id == job.id && owner == "c" } else { false } }
        }
        #expect(removed)
        #expect(Date().timeIntervalSince(finished) >= 0.4)
        #expect(fixture.engine.snapshot(of: job.id) == nil)
        #expect(fixture.engine.status.jobCount == 0)
        #expect(serviceError { try fixture.engine.takeFrames(of: job.id) }?.kind == .invalidArgument)
    }

    @Test("shutdown fails queued jobs with ShuttingDown, stops the running one and refuses new work")
    func shutdown() throws {
        let fixture = try EngineFixture()
        let png = try TestInput.png(width: 64, height: 64)
        func submit(_ options: AnimationOptions) throws -> JobSnapshot {
            let fd = try TestInput.descriptor(holding: png)
            defer { close(fd) }
            return try fixture.engine.submit(AnimationRequest(owner: "c", options: options, image: .encoded(fileDescriptor: fd)))
        }
        let running = try submit(Self.longOptions())
        let queued = try submit(EngineFixture.quickOptions())
        fixture.log.wait { $0.changes(of: running.id).contains { $0.stage == .denoising } }
        let asked = Date()
        #expect(fixture.engine.shutdown(grace: 10))
        print("engine shutdown with a running job (debug build): \(String(format: "%.3f", Date().timeIntervalSince(asked))) s")
        let stopped = try #require(fixture.log.completion(of: running.id))
        #expect(stopped.state == .failed)
        #expect(stopped.error?.kind == .shuttingDown)
        let failed = try #require(fixture.log.completion(of: queued.id))
        #expect(failed.state == .failed)
        #expect(failed.error?.kind == .shuttingDown)
        #expect(serviceError { try submit(EngineFixture.quickOptions()) }?.kind == .shuttingDown)
        #expect(serviceError { try fixture.engine.checkAccepting() }?.kind == .shuttingDown)
        let loadResult = Completion<Result<Void, ServiceError>>()
        fixture.engine.loadModel(named: "demo") { loadResult.set($0) }
        #expect(loadResult.wait()?.failure?.kind == .shuttingDown)
    }
}

/// A value handed over from a completion handler.
final class Completion<T: Sendable>: Sendable {
    private let value = Mutex<T?>(nil)
    private let ready = DispatchSemaphore(value: 0)

    func set(_ newValue: T) {
        value.withLock { $0 = newValue }
        ready.signal()
    }

    func wait(timeout: Double = 120) -> T? {
        _ = ready.wait(timeout: .now() + timeout)
        return value.withLock { $0 }
    }
}

extension Result {
    var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
