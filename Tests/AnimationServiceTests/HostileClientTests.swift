import AnimationService
import CZlib
import DiffusionPipeline
import Foundation
import MediaIO
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// An engine over the demo models that runs `onWrite` after each write into a job's output
/// (the engine's test hook), for stopping jobs in the middle of writing.
final class WritingEngine: Sendable {
    /// What the write hook needs, filled in once the engine exists.
    private final class Hook: Sendable {
        let engine = Mutex<JobEngine?>(nil)
        let action = Mutex<(@Sendable (JobEngine, UInt64) -> Void)?>(nil)
        let fired = Mutex(false)
    }

    let engine: JobEngine
    let log = EventLog()
    private let hook = Hook()

    init() throws {
        var configuration = EngineConfiguration(outputStallTimeout: 10)
        let hook = self.hook
        configuration.afterOutputWrite = { job, _ in
            guard let engine = hook.engine.withLock({ $0 }), let action = hook.action.withLock({ $0 }),
                  !hook.fired.withLock({ let was = $0; $0 = true; return was }) else { return }
            action(engine, job)
        }
        engine = try JobEngine(registry: ModelRegistry(directory: try DemoModels.directory()), configuration: configuration)
        hook.engine.withLock { $0 = engine }
        let log = self.log
        engine.setObserver { log.record($0) }
    }

    /// `action` runs once, after the first write.
    func onFirstWrite(_ action: @escaping @Sendable (JobEngine, UInt64) -> Void) {
        hook.action.withLock { $0 = action }
    }

    func stop() { engine.shutdown(grace: 10) }

    /// Runs a job writing `format` into `output`; returns how it ended.
    func run(into output: Int32, format: OutputFormat, frames: Int = 8) throws -> JobSnapshot {
        let input = try TestInput.descriptor(holding: try TestInput.png(width: 64, height: 64))
        defer { close(input) }
        let job = try engine.submit(AnimationRequest(
            owner: "c", options: EngineFixture.quickOptions(frames: frames), image: .encoded(fileDescriptor: input),
            output: OutputRequest(fileDescriptor: output, format: format)))
        return try log.waitForCompletion(of: job.id)
    }
}

/// A scratch file with `content`, opened with `flags`; removed with the object.
final class ScratchFile {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("output-\(UUID().uuidString)").path
    let fd: Int32

    init(_ content: [UInt8], flags: Int32) throws {
        try Data(content).write(to: URL(fileURLWithPath: path))
        fd = open(path, flags | O_CLOEXEC)
        try #require(fd >= 0)
    }

    var content: [UInt8] { [UInt8]((try? Data(contentsOf: URL(fileURLWithPath: path))) ?? Data()) }

    deinit {
        close(fd)
        unlink(path)
    }
}

@Suite("Careless and hostile clients", .serialized)
struct HostileClientTests {
    /// 8 raw 64×64 frames: two 64 KiB writes.
    static let rawSize = 8 * 64 * 64 * 3
    static let former = (0..<150_000).map { UInt8(truncatingIfNeeded: $0 * 31 + 7) }

    @Test("a raw result cancelled while it is written leaves the file empty, or as it was", arguments: [
        ("empty", O_RDWR), ("former content, read-write", O_RDWR), ("former content, write-only", O_WRONLY),
        ("former content, append", O_WRONLY | O_APPEND),
    ])
    func cancelledRawWrite(name: String, flags: Int32) throws {
        let fixture = try WritingEngine()
        defer { fixture.stop() }
        let original = name == "empty" ? [] : Self.former
        let file = try ScratchFile(original, flags: flags)
        fixture.onFirstWrite { engine, job in engine.cancel(job: job) }
        let done = try fixture.run(into: file.fd, format: .raw)
        #expect(done.state == .cancelled)
        // A write-only file's former bytes cannot be read to keep them: it is left empty.
        #expect(file.content == (flags == O_WRONLY ? [] : original), "\(name): \(file.content.count) bytes")
    }

    @Test("a finished raw result replaces a longer file's content from its start; O_APPEND adds it after")
    func finishedRawWrite() throws {
        let fixture = try WritingEngine()
        defer { fixture.stop() }
        let file = try ScratchFile(Self.former, flags: O_WRONLY)
        #expect(try fixture.run(into: file.fd, format: .raw).state == .done)
        #expect(file.content.count == Self.rawSize)
        let appended = try ScratchFile(Array(Self.former.prefix(1000)), flags: O_WRONLY | O_APPEND)
        #expect(try fixture.run(into: appended.fd, format: .raw).state == .done)
        let content = appended.content
        #expect(content.count == 1000 + Self.rawSize)
        #expect(Array(content.prefix(1000)) == Array(Self.former.prefix(1000)))
        #expect(Array(content.dropFirst(1000)) == file.content)
    }

    @Test("an encoded result stopped by shutdown while it is written leaves the file empty", arguments: [OutputFormat.mp4, .gif])
    func shutdownDuringWrite(format: OutputFormat) throws {
        let fixture = try WritingEngine()
        defer { fixture.stop() }
        let file = try ScratchFile([], flags: O_WRONLY)
        fixture.onFirstWrite { engine, _ in
            // What SIGTERM does; the worker (this thread) carries on once it is under way.
            Thread.detachNewThread { engine.shutdown(grace: 10) }
            while (try? engine.checkAccepting()) != nil { usleep(1_000) }
        }
        let done = try fixture.run(into: file.fd, format: format)
        #expect(done.state == .failed)
        #expect(done.error?.kind == .shuttingDown)
        #expect(file.content.isEmpty, "\(file.content.count) bytes left")
    }

    @Test("a raw input of the wrong size names the size it needs, not one more")
    func rawInputSize() throws {
        let fixture = try EngineFixture()
        defer { fixture.close() }
        let layout = RawPixelLayout(format: .rgb, width: 64, height: 64, stride: 192)
        let twice = [UInt8](repeating: 1, count: 2 * 12_288)
        let viaFile = try TestInput.descriptor(holding: twice)
        defer { close(viaFile) }
        var ends: [Int32] = [0, 0]
        try #require(pipe(&ends) == 0)
        defer { close(ends[0]) }
        let writer = ends[1]
        Thread.detachNewThread {
            _ = twice.withUnsafeBytes { write(writer, $0.baseAddress, $0.count) }
            close(writer)
        }
        for (source, held) in [(viaFile, "holds 24576 bytes"), (ends[0], "holds more than 12288 bytes")] {
            let error = InputTests.submit(fixture, .raw(fileDescriptor: source, layout: layout))
            #expect(error?.kind == .invalidImage)
            #expect(error?.message.contains("the raw image \(held); RGB 64×64 with stride 192 needs exactly stride × height = 12288") == true,
                    "\(String(describing: error))")
            #expect(error?.message.contains("12289") == false)
        }
    }

    @Test("a damaged PNG is refused saying what is wrong with it")
    func damagedPNG() throws {
        let fixture = try EngineFixture()
        defer { fixture.close() }
        for (png, expected) in [(TinyPNG.make(width: 0, height: 0), "the PNG declares a 0×0 image"),
                                (TinyPNG.make(width: 8, height: 8, depth: 7), "the PNG's bit depth 7 is not valid")] {
            let fd = try TestInput.descriptor(holding: png)
            defer { close(fd) }
            let error = InputTests.submit(fixture, .encoded(fileDescriptor: fd))
            #expect(error?.kind == .invalidImage)
            #expect(error?.message.contains(expected) == true, "\(String(describing: error))")
        }
    }

    @Test("an image whose decode would not fit in memory is refused with InsufficientMemory")
    func decodeCountsAgainstMemory() throws {
        // The engine's reader is given its memory budget; here the reader is asked directly, as
        // the budget that lets a demo job in is larger than any image within the limits needs.
        let reader = ImageReader(availableMemory: { 200 << 20 })
        let fd = try TestInput.descriptor(holding: TinyPNG.make(width: 8192, height: 4096))
        defer { close(fd) }
        let error = serviceError { try reader.read(.encoded(fileDescriptor: fd), fittingWidth: 64, height: 64) }
        #expect(error?.kind == .insufficientMemory)
        // 8192 × 4096 × (3 decoded + 3 converted + 3 copied) bytes.
        #expect(error?.message.contains("8192×4096 PNG takes about 288 MiB; 200 MiB are available") == true, "\(String(describing: error))")
    }
}

/// PNGs written by hand, any size, grey rows: a huge one compresses to almost nothing.
enum TinyPNG {
    static func make(width: UInt32, height: UInt32, depth: UInt8 = 8) -> [UInt8] {
        func bigEndian(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)] }
        func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
            let body = Array(type.utf8) + data
            return bigEndian(UInt32(data.count)) + body + bigEndian(UInt32(body.withUnsafeBufferPointer { crc32(0, $0.baseAddress, uInt($0.count)) }))
        }
        var rows = [UInt8](repeating: 0x40, count: Int(height) * (1 + Int(width) * 3))
        for row in 0..<Int(height) { rows[row * (1 + Int(width) * 3)] = 0 } // filter type: none
        var size = compressBound(uLong(rows.count))
        var deflated = [UInt8](repeating: 0, count: Int(size))
        _ = compress2(&deflated, &size, rows, uLong(rows.count), 1)
        return [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
            + chunk("IHDR", bigEndian(width) + bigEndian(height) + [depth, 2, 0, 0, 0])
            + chunk("IDAT", Array(deflated.prefix(Int(size)))) + chunk("IEND", [])
    }
}
