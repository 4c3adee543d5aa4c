import AnimationService
import DiffusionPipeline
import Foundation
import Imaging
import InMemoryLogging
import Logging
import MediaIO
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A models folder with the demo model (random weights, real architecture) written once per
/// test process, shared read-only by every test.
enum DemoModels {
    /// 64×64 frames: the smallest size the tests' images and codecs are comfortable with.
    static let frameSize = 64

    private static let made = Swift.Result<String, any Error>(catching: {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("animation-service-models-\(getpid())").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        try DemoModel.write(to: root + "/demo", frameSize: frameSize)
        return root
    })

    static func directory() throws -> String { try made.get() }
}

/// Records every engine event and lets a test wait for conditions on them.
final class EventLog: Sendable {
    private let events = Mutex<[EngineEvent]>([])

    func record(_ event: EngineEvent) {
        events.withLock { $0.append(event) }
    }

    var all: [EngineEvent] { events.withLock { $0 } }

    /// The snapshots of one job's changes, in order.
    func changes(of id: UInt64) -> [JobSnapshot] {
        all.compactMap { if case .jobChanged(let s, _) = $0, s.id == id { s } else { nil } }
    }

    func completion(of id: UInt64) -> JobSnapshot? {
        all.lazy.compactMap { if case .jobCompleted(let s) = $0, s.id == id { s } else { nil } }.first
    }

    /// Completed job ids in the order they completed.
    var completedOrder: [UInt64] {
        all.compactMap { if case .jobCompleted(let s) = $0 { s.id } else { nil } }
    }

    /// Job ids in the order they started running.
    var startOrder: [UInt64] {
        all.compactMap { if case .jobChanged(let s, let changed) = $0, changed.contains(.state), s.state == .running { s.id } else { nil } }
    }

    /// Polls until `condition` holds or `timeout` passes; returns whether it held.
    @discardableResult
    func wait(timeout: Double = 120, _ condition: (EventLog) -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if condition(self) { return true }
            usleep(5_000)
        }
        return condition(self)
    }

    func waitForCompletion(of id: UInt64, timeout: Double = 120) throws -> JobSnapshot {
        wait(timeout: timeout) { $0.completion(of: id) != nil }
        return try #require(completion(of: id), "job \(id) did not complete within \(timeout) s")
    }
}

/// An engine over the demo models with an event log, shut down by `close()`.
struct EngineFixture {
    let engine: JobEngine
    let log = EventLog()
    /// What the engine logged (swift-log's in-memory handler).
    let logged = InMemoryLogHandler()

    init(queueLength: Int = 8, retention: Double = 60, limits: InputLimits = .default, modelsDirectory: String? = nil,
         defaultModel: String? = nil) throws {
        let registry = ModelRegistry(directory: try modelsDirectory ?? DemoModels.directory(), defaultModel: defaultModel)
        var configuration = EngineConfiguration(maxQueueLength: queueLength, jobRetention: retention, inputLimits: limits, outputStallTimeout: 10)
        let logged = self.logged
        configuration.logger = Logger(label: "test.engine") { _ in logged }
        engine = try JobEngine(registry: registry, configuration: configuration)
        let log = self.log
        engine.setObserver { log.record($0) }
    }

    func close() {
        engine.shutdown(grace: 10)
    }

    /// Quick settings: the fewest frames and steps, no guidance (one network pass per step).
    static func quickOptions(seed: UInt64 = 7, steps: Int = 1, frames: Int = 2) -> AnimationOptions {
        var options = AnimationOptions(prompt: "a test")
        options.frames = frames
        options.steps = steps
        options.guidanceScale = 1
        options.seed = seed
        return options
    }
}

/// Test inputs: images written to files and opened, pipes, raw pixel buffers.
enum TestInput {
    /// A deterministic RGB test pattern.
    static func pattern(width: Int, height: Int) -> [UInt8] {
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            for x in 0..<width {
                let i = (y * width + x) * 3
                pixels[i] = UInt8(x * 255 / max(width - 1, 1))
                pixels[i + 1] = UInt8(y * 255 / max(height - 1, 1))
                pixels[i + 2] = UInt8((x + y) % 256)
            }
        }
        return pixels
    }

    /// A PNG file of the pattern (written by MediaIO's PNG frame writer), as bytes.
    static func png(width: Int, height: Int) throws -> [UInt8] {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("png-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let image = try RGBImage(width: width, height: height, pixels: pattern(width: width, height: height))
        try VideoEncoder.write(frames: [image], fps: 1, to: folder + "/", format: .png)
        return [UInt8](try Data(contentsOf: URL(fileURLWithPath: folder + "/frame_0000.png")))
    }

    /// A file holding `bytes`, opened with `flags`; unlinked at once (the descriptor keeps it).
    static func descriptor(holding bytes: [UInt8], flags: Int32 = O_RDONLY) throws -> Int32 {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("input-\(UUID().uuidString)").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        defer { unlink(path) }
        let fd = open(path, flags | O_CLOEXEC)
        try #require(fd >= 0)
        return fd
    }

    /// A pipe whose write end has been filled with `bytes` (at most a pipe's capacity) and closed.
    static func pipe(holding bytes: [UInt8]) throws -> Int32 {
        var ends: [Int32] = [0, 0]
        try #require(Glibc.pipe(&ends) == 0)
        let written = bytes.withUnsafeBytes { write(ends[1], $0.baseAddress, $0.count) }
        Glibc.close(ends[1])
        try #require(written == bytes.count)
        return ends[0]
    }

    static func readAll(_ fd: Int32) -> [UInt8] {
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { return result }
            result.append(contentsOf: chunk[0..<count])
        }
    }
}

/// Runs `body` and returns the `ServiceError` it threw (nil when it did not throw one).
func serviceError<T>(_ body: () throws -> T) -> ServiceError? {
    do {
        _ = try body()
        return nil
    } catch let error as ServiceError {
        return error
    } catch {
        Issue.record("expected a ServiceError, got \(error)")
        return nil
    }
}
