import AnimationService
import DiffusionPipeline
import Foundation
import Testing
import TestingSupport
#if canImport(Glibc)
import Glibc
#endif

@Suite("Results", .serialized)
struct OutputTests {
    /// ffprobe's count of decoded frames and codec name for a file.
    static func probe(_ path: String) throws -> (frames: Int, codec: String) {
        let result = try Command("/usr/bin/ffprobe", ["-v", "error", "-count_frames", "-select_streams", "v:0",
                                                      "-show_entries", "stream=nb_read_frames,codec_name", "-of",
                                                      "default=noprint_wrappers=1", path]).run()
        var fields: [String: String] = [:]
        for line in result.stdout.split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1).map(String.init)
            if parts.count == 2 { fields[parts[0]] = parts[1] }
        }
        return (Int(fields["nb_read_frames"] ?? "") ?? -1, fields["codec_name"] ?? "")
    }

    @Test("encoded results are written into the output descriptor and it is closed", arguments: [
        (OutputFormat.mp4, "h264"), (OutputFormat.webm, "vp8"), (OutputFormat.gif, "gif"),
    ])
    func encodedOutput(format: OutputFormat, codec: String) throws {
        let fixture = try EngineFixture()
        defer { fixture.close() }
        let input = try TestInput.descriptor(holding: try TestInput.png(width: 64, height: 64))
        defer { close(input) }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("out-\(UUID().uuidString).\(format.rawValue)").path
        defer { unlink(path) }
        let output = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        try #require(output >= 0)
        let job = try fixture.engine.submit(AnimationRequest(
            owner: "c", options: EngineFixture.quickOptions(frames: 4), image: .encoded(fileDescriptor: input),
            output: OutputRequest(fileDescriptor: output, format: format)))
        close(output) // the engine holds its own duplicate
        let done = try fixture.log.waitForCompletion(of: job.id)
        #expect(done.state == .done)
        #expect(fixture.log.changes(of: job.id).contains { $0.stage == .writing })
        let probed = try Self.probe(path)
        #expect(probed.codec == codec)
        #expect(probed.frames == 4)
        #expect(serviceError { try fixture.engine.takeFrames(of: job.id) }?.kind == .invalidArgument)
    }

    @Test("raw results stream through a pipe to a reader, which then sees end of file")
    func rawOutputThroughPipe() throws {
        let fixture = try EngineFixture()
        defer { fixture.close() }
        let input = try TestInput.descriptor(holding: try TestInput.png(width: 64, height: 64))
        defer { close(input) }
        var ends: [Int32] = [0, 0]
        try #require(pipe(&ends) == 0)
        let job = try fixture.engine.submit(AnimationRequest(
            owner: "c", options: EngineFixture.quickOptions(frames: 3), image: .encoded(fileDescriptor: input),
            output: OutputRequest(fileDescriptor: ends[1], format: .raw)))
        close(ends[1])
        // More than a pipe holds (3 × 12 KiB): the engine must wait for this reader.
        let bytes = TestInput.readAll(ends[0])
        close(ends[0])
        #expect(bytes.count == 3 * 64 * 64 * 3)
        #expect(try fixture.log.waitForCompletion(of: job.id).state == .done)
    }

    @Test("a reader that closes the pipe fails the job with Internal, and the engine carries on")
    func closedReader() throws {
        let fixture = try EngineFixture()
        defer { fixture.close() }
        let input = try TestInput.descriptor(holding: try TestInput.png(width: 64, height: 64))
        defer { close(input) }
        var ends: [Int32] = [0, 0]
        try #require(pipe(&ends) == 0)
        close(ends[0])
        let job = try fixture.engine.submit(AnimationRequest(
            owner: "c", options: EngineFixture.quickOptions(), image: .encoded(fileDescriptor: input),
            output: OutputRequest(fileDescriptor: ends[1], format: .raw)))
        close(ends[1])
        let failed = try fixture.log.waitForCompletion(of: job.id)
        #expect(failed.state == .failed)
        #expect(failed.error?.kind == .internal)
        #expect(failed.error?.message.contains("reading end was closed") == true)
        let next = try fixture.engine.submit(AnimationRequest(owner: "c", options: EngineFixture.quickOptions(), image: .encoded(fileDescriptor: input)))
        #expect(try fixture.log.waitForCompletion(of: next.id).state == .done)
    }

    @Test("a read-only output descriptor is refused")
    func readOnlyOutput() throws {
        let fixture = try EngineFixture()
        defer { fixture.close() }
        let input = try TestInput.descriptor(holding: try TestInput.png(width: 64, height: 64))
        defer { close(input) }
        let refusal = serviceError {
            try fixture.engine.submit(AnimationRequest(owner: "c", options: EngineFixture.quickOptions(), image: .encoded(fileDescriptor: input),
                                                       output: OutputRequest(fileDescriptor: input, format: .mp4)))
        }
        #expect(refusal?.kind == .invalidArgument)
        #expect(refusal?.message.contains("reading only") == true)
    }

    @Test("the same seed gives the same frames, another seed other frames")
    func determinism() throws {
        let fixture = try EngineFixture()
        defer { fixture.close() }
        let input = try TestInput.descriptor(holding: try TestInput.png(width: 64, height: 64))
        defer { close(input) }
        var frames: [[UInt8]] = []
        for seed: UInt64 in [11, 11, 12] {
            let job = try fixture.engine.submit(AnimationRequest(owner: "c", options: EngineFixture.quickOptions(seed: seed),
                                                                 image: .encoded(fileDescriptor: input)))
            #expect(try fixture.log.waitForCompletion(of: job.id).state == .done)
            let handoff = try fixture.engine.takeFrames(of: job.id)
            frames.append(TestInput.readAll(handoff.fileDescriptor))
            close(handoff.fileDescriptor)
        }
        #expect(frames[0] == frames[1])
        #expect(frames[0] != frames[2])
    }
}
