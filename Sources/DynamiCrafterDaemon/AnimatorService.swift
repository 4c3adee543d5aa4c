import TensorCore
import AnimationService
import DBusKit
import DiffusionPipeline
import Dispatch
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// The D-Bus face of a `JobEngine`: the manager object, the job objects under
/// /org/dynamicrafter/Animator1/Job, every engine change mapped to PropertiesChanged and
/// Completed, and the callers' jobs cancelled when they leave the bus.
///
/// Handlers run on the connection's queue and stay quick: whatever reads client descriptors,
/// scans the models folder or builds frame buffers is moved to the `intake` queue, and the
/// model itself only ever runs on the engine's worker thread.
final class AnimatorService: Sendable {
    let connection: DBusConnection
    let engine: JobEngine
    let version: String
    let logger: Logger
    private let managerInfo: DBusInterfaceInfo
    private let jobInfo: DBusInterfaceInfo
    /// Short blocking request work (scanning the models folder, building frame buffers).
    private let intake = DispatchQueue(label: "dynamicrafterd.intake", attributes: .concurrent)
    private let jobObjects = Mutex<[UInt64: DBusObject]>([:])
    private let callers: CallerWatch
    private let accepting = Atomic<Bool>(true)
    /// Animate calls reading their image, not answered yet (a shutdown waits for their replies).
    private let animating = Atomic<Int>(0)

    init(connection: DBusConnection, engine: JobEngine, interfaces: (manager: DBusInterfaceInfo, job: DBusInterfaceInfo),
         version: String, logger: Logger) {
        self.connection = connection
        self.engine = engine
        self.version = version
        self.logger = logger
        managerInfo = interfaces.manager
        jobInfo = interfaces.job
        callers = CallerWatch(connection: connection) { name in
            // Every client leaving the bus comes here; for most there is nothing to stop.
            let reason = "the job's caller (\(name)) left the bus"
            let reads = engine.abandonReads(ownedBy: name, reason: reason)
            let jobs = engine.cancelJobs(ownedBy: name, reason: reason)
            if reads + jobs > 0 {
                logger.info("client \(name) left the bus: abandoned \(reads) image read(s), cancelled \(jobs) job(s)")
            }
        }
    }

    /// Watches callers leaving, exports the objects and starts mapping engine events; call
    /// before requesting the name.
    func start() async throws {
        do {
            try await callers.start()
        } catch {
            logger.error("cannot watch clients leaving the bus (their jobs would outlive them): \(error)")
            throw error
        }
        engine.setObserver { [weak self] event in self?.publish(event) }
        try connection.export(try managerObject(), at: AnimatorInterface.managerPath)
        try connection.exportSubtree(DBusSubtree(
            resolve: { [weak self] path in self?.jobObject(at: path) },
            children: { [weak self] path in
                guard let self, path == AnimatorInterface.jobRoot else { return [] }
                return self.engine.jobs.map { String($0.id) }
            }), at: AnimatorInterface.jobRoot)
    }

    /// New calls that would start work are refused with ShuttingDown from now on.
    func stopAccepting() {
        accepting.store(false, ordering: .releasing)
    }

    private func checkAccepting() throws(DBusError) {
        guard accepting.load(ordering: .acquiring) else {
            throw ServiceError(.shuttingDown, "the daemon is stopping; try again once it is back (D-Bus activation restarts it)").dbusError
        }
    }

    static func jobPath(_ id: UInt64) -> String { "\(AnimatorInterface.jobRoot)/\(id)" }

    // MARK: - The manager object

    private func managerObject() throws(DBusError) -> DBusObject {
        let engine = engine
        let implementation = try DBusInterfaceImplementation(managerInfo, methods: [
            "Animate": .deferred { [weak self] call, reply in
                guard let self else { throw DBusError(name: DBusError.Name.failed, message: "the service is gone") }
                try self.animate(call, reply)
            },
            "GetModels": .deferred { [intake] _, reply in
                intake.async { reply.send([Self.modelList(engine.models())]) }
            },
            "LoadModel": .deferred { [weak self, intake] call, reply in
                try self?.checkAccepting()
                let name = call.arguments.first?.stringValue ?? ""
                intake.async {
                    engine.loadModel(named: name) { result in
                        switch result {
                        case .success: reply.send([])
                        case .failure(let error): reply.fail(error.dbusError)
                        }
                    }
                }
            },
            "UnloadModel": .deferred { [weak self] _, reply in
                try self?.checkAccepting()
                engine.unloadModel { result in
                    switch result {
                    case .success: reply.send([])
                    case .failure(let error): reply.fail(error.dbusError)
                    }
                }
            },
        ], properties: [
            "Version": .constant(.string(version)),
            "LoadedModel": DBusPropertyImplementation(get: { .string(engine.status.loadedModel) }),
            "State": DBusPropertyImplementation(get: { .string(engine.status.state.rawValue) }),
            "QueueLength": DBusPropertyImplementation(get: { .uint32(UInt32(clamping: engine.status.queueLength)) }),
            "Backend": .constant(.string(engine.backendName)),
            "Precision": .constant(.string(engine.precision.rawValue)),
        ])
        return try DBusObject(interfaces: [implementation])
    }

    private func animate(_ call: DBusMethodCall, _ reply: DBusDeferredReply) throws(DBusError) {
        try checkAccepting()
        guard let sender = call.sender else {
            throw DBusError(name: DBusError.Name.accessDenied, message: "Animate needs a caller with a bus name")
        }
        let arguments = try AnimateArguments(call.arguments)
        let engine = engine
        do {
            try engine.checkAccepting()
        } catch {
            throw error.dbusError
        }
        // Here, on the connection's queue, where the caller's leaving can only come after this
        // call: a caller that leaves while its image is still being read has the read abandoned
        // at once (and, once queued, its job cancelled).
        callers.submissionStarted(by: sender)
        // Reading the image may block for as long as a pipe takes (up to the read deadline):
        // a thread of its own, so slow clients never hold up the shared queues. The engine
        // bounds how many such reads run at once, per caller and in all.
        animating.add(1, ordering: .acquiringAndReleasing)
        Thread.detachNewThread { [weak self, callers] in
            do {
                let snapshot = try engine.submit(try arguments.request(owner: sender))
                reply.send([.objectPath(Self.jobPath(snapshot.id))])
            } catch {
                reply.fail(error.dbusError)
            }
            callers.submissionEnded(by: sender)
            self?.animating.subtract(1, ordering: .acquiringAndReleasing)
            // The descriptors are closed only now that the engine is done with them.
            withExtendedLifetime(arguments) {}
        }
    }

    /// Animate calls whose reply has not been sent yet.
    var unansweredAnimateCalls: Int { animating.load(ordering: .acquiring) }

    static func modelList(_ models: [ModelInfo]) -> DBusValue {
        .array("(sa{sv})", models.map { info in
            let entry = info.entry
            return .structure([.string(entry.name), .vardict([
                "path": .string(entry.weightsPath),
                "preset": .string(entry.preset ?? ""),
                "width": .uint32(UInt32(clamping: entry.frameWidth)),
                "height": .uint32(UInt32(clamping: entry.frameHeight)),
                "frames": .uint32(UInt32(clamping: entry.defaultFrames)),
                "mode": .string(entry.defaultMode.rawValue),
                "size": .uint64(entry.sizeBytes),
                "dtype": .string(entry.dtype),
                "verified": .bool(entry.verified),
                "precision": .string(info.precision.rawValue),
                "memory": .uint64(UInt64(clamping: info.estimatedBytes)),
                "loaded": .bool(info.isLoaded),
                "default": .bool(info.isDefault),
            ])])
        })
    }

    // MARK: - Job objects

    private func jobID(at path: String) -> UInt64? {
        guard path.hasPrefix(AnimatorInterface.jobRoot + "/") else { return nil }
        let tail = path.dropFirst(AnimatorInterface.jobRoot.count + 1)
        // Canonical decimal only: "/Job/01" is not job 1.
        guard let id = UInt64(tail), String(id) == tail else { return nil }
        return id
    }

    private func jobObject(at path: String) -> DBusObject? {
        guard let id = jobID(at: path), engine.snapshot(of: id) != nil else { return nil }
        if let cached = jobObjects.withLock({ $0[id] }) { return cached }
        guard let object = try? makeJobObject(id) else { return nil }
        jobObjects.withLock { $0[id] = object }
        return object
    }

    private func makeJobObject(_ id: UInt64) throws(DBusError) -> DBusObject {
        let engine = engine
        let path = Self.jobPath(id)
        @Sendable func snapshot() throws -> JobSnapshot {
            guard let snapshot = engine.snapshot(of: id) else {
                throw DBusError(name: DBusError.Name.unknownObject, message: "No object at path '\(path)': the job was removed")
            }
            return snapshot
        }
        @Sendable func owned(by sender: String?) throws -> JobSnapshot {
            let job = try snapshot()
            guard sender == job.owner else {
                throw DBusError(name: DBusError.Name.accessDenied,
                                message: "job \(id) belongs to the connection that called Animate (\(job.owner)); \(sender ?? "this caller") may only watch it")
            }
            return job
        }
        @Sendable func property(_ property: JobProperty) -> DBusPropertyImplementation {
            DBusPropertyImplementation(get: { Self.value(of: property, in: try snapshot()) })
        }
        let implementation = try DBusInterfaceImplementation(jobInfo, methods: [
            "Cancel": .immediate { call in
                _ = try owned(by: call.sender)
                engine.cancel(job: id)
                return []
            },
            "TakeFrames": .deferred { [intake] call, reply in
                _ = try owned(by: call.sender)
                intake.async {
                    do {
                        let frames = try engine.takeFrames(of: id)
                        reply.send([.unixFD(DBusUnixFD(taking: frames.fileDescriptor)), .vardict([
                            "width": .uint32(UInt32(clamping: frames.width)),
                            "height": .uint32(UInt32(clamping: frames.height)),
                            "frames": .uint32(UInt32(clamping: frames.frameCount)),
                            "format": .string("RGB"),
                            "fps": .uint32(UInt32(clamping: frames.fps)),
                        ])])
                    } catch {
                        reply.fail(error.dbusError)
                    }
                }
            },
        ], properties: Dictionary(uniqueKeysWithValues: JobProperty.allCases.map { ($0.rawValue, property($0)) }))
        return try DBusObject(interfaces: [implementation])
    }

    static func value(of property: JobProperty, in job: JobSnapshot) -> DBusValue {
        switch property {
        case .state: .string(job.state.rawValue)
        case .stage: .string(job.stage.rawValue)
        case .progress: .double(job.progress)
        case .step: .uint32(UInt32(clamping: job.step))
        case .totalSteps: .uint32(UInt32(clamping: job.totalSteps))
        case .remainingSeconds: .double(job.remainingSeconds)
        }
    }

    // MARK: - Engine events → signals

    private func publish(_ event: EngineEvent) {
        do {
            switch event {
            case .statusChanged(let old, let new):
                var changed: [(String, DBusValue)] = []
                if old.state != new.state { changed.append(("State", .string(new.state.rawValue))) }
                if old.loadedModel != new.loadedModel { changed.append(("LoadedModel", .string(new.loadedModel))) }
                if old.queueLength != new.queueLength { changed.append(("QueueLength", .uint32(UInt32(clamping: new.queueLength)))) }
                if !changed.isEmpty {
                    try connection.emitPropertiesChanged(path: AnimatorInterface.managerPath, interface: AnimatorInterface.managerName, changed: changed)
                }
            case .jobAdded:
                break
            case .jobChanged(let job, let changed):
                try connection.emitPropertiesChanged(
                    path: Self.jobPath(job.id), interface: AnimatorInterface.jobName,
                    changed: changed.map { ($0.rawValue, Self.value(of: $0, in: job)) })
            case .jobCompleted(let job):
                let error = job.error
                let reason = error.map { " (\($0.kind.rawValue): \($0.message))" } ?? ""
                logger.info("job \(job.id) of \(job.owner): \(job.state.rawValue)\(reason)")
                try connection.emitSignal(
                    path: Self.jobPath(job.id), interface: AnimatorInterface.jobName, member: "Completed",
                    arguments: [.bool(job.state == .done), .string(error?.dbusName ?? ""), .string(error?.message ?? "")])
            case .jobRemoved(let id, _):
                jobObjects.withLock { _ = $0.removeValue(forKey: id) }
            }
        } catch {
            // The bus is gone or the message was refused; the daemon's disconnect handler
            // takes care of the former.
            logger.warning("cannot emit a signal for \(event): \(error)")
        }
    }
}
