import AnimationService
import DiffusionPipeline
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// What `submit` refuses before a job exists, with the right error kind; and raw pixel input.
@Suite("Input checks", .serialized)
struct InputTests {
    static func submit(_ fixture: EngineFixture, _ image: ImageSource, options: AnimationOptions = EngineFixture.quickOptions(),
                       endImage: ImageSource? = nil, model: String? = nil) -> ServiceError? {
        serviceError { try fixture.engine.submit(AnimationRequest(owner: "c", model: model, options: options, image: image, endImage: endImage)) }
    }

    @Test("undecodable, empty, oversized and unreadable images are refused with a reason")
    func badImages() throws {
        let fixture = try EngineFixture(limits: InputLimits(maxSide: 100, maxPixels: 100 * 100, maxEncodedBytes: 1 << 20, readTimeout: 2))
        defer { fixture.close() }

        let garbage = try TestInput.descriptor(holding: Array("this is not an image at all".utf8))
        defer { close(garbage) }
        let notImage = Self.submit(fixture, .encoded(fileDescriptor: garbage))
        #expect(notImage?.kind == .invalidImage)
        #expect(notImage?.message.contains("could not be decoded") == true)

        let empty = try TestInput.descriptor(holding: [])
        defer { close(empty) }
        #expect(Self.submit(fixture, .encoded(fileDescriptor: empty))?.kind == .invalidImage)

        // Larger than the limits: refused from the header, before a frame is allocated.
        let big = try TestInput.descriptor(holding: try TestInput.png(width: 160, height: 40))
        defer { close(big) }
        let tooLarge = Self.submit(fixture, .encoded(fileDescriptor: big))
        #expect(tooLarge?.kind == .invalidImage)
        #expect(tooLarge?.message.contains("too large") == true)

        // An endless character device: stopped at the byte limit.
        let zero = open("/dev/zero", O_RDONLY | O_CLOEXEC)
        defer { close(zero) }
        let endless = Self.submit(fixture, .encoded(fileDescriptor: zero))
        #expect(endless?.kind == .invalidImage)
        #expect(endless?.message.contains("more than") == true)

        // A pipe whose writer never closes: stopped at the read deadline.
        var ends: [Int32] = [0, 0]
        try #require(pipe(&ends) == 0)
        defer { close(ends[0]); close(ends[1]) }
        let started = Date()
        let stalled = Self.submit(fixture, .encoded(fileDescriptor: ends[0]))
        #expect(stalled?.kind == .invalidImage)
        #expect(stalled?.message.contains("did not reach its end") == true)
        #expect(Date().timeIntervalSince(started) < 5)

        // Descriptors that cannot be an image.
        let directory = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        defer { close(directory) }
        let isDirectory = Self.submit(fixture, .encoded(fileDescriptor: directory))
        #expect(isDirectory?.kind == .invalidArgument)
        #expect(isDirectory?.message.contains("directory") == true)
        let writeOnly = try TestInput.descriptor(holding: [1, 2, 3], flags: O_WRONLY)
        defer { close(writeOnly) }
        #expect(Self.submit(fixture, .encoded(fileDescriptor: writeOnly))?.kind == .invalidArgument)
        #expect(Self.submit(fixture, .encoded(fileDescriptor: 9999))?.kind == .invalidArgument)

        // Nothing was queued by any of these.
        #expect(fixture.engine.status.jobCount == 0)
    }

    @Test("an encoded image through a pipe works like a file")
    func pipeInput() throws {
        let fixture = try EngineFixture()
        defer { fixture.close() }
        let fd = try TestInput.pipe(holding: try TestInput.png(width: 48, height: 32))
        defer { close(fd) }
        let job = try fixture.engine.submit(AnimationRequest(owner: "c", options: EngineFixture.quickOptions(), image: .encoded(fileDescriptor: fd)))
        #expect(try fixture.log.waitForCompletion(of: job.id).state == .done)
    }

    @Test("raw RGB and padded RGBA pixels give the same frames; bad layouts are refused")
    func rawPixels() throws {
        let fixture = try EngineFixture()
        defer { fixture.close() }
        let (width, height) = (40, 30)
        let rgb = TestInput.pattern(width: width, height: height)
        // RGBA with 12 bytes of padding per row.
        let stride = width * 4 + 12
        var rgba = [UInt8](repeating: 0xEE, count: stride * height)
        for y in 0..<height {
            for x in 0..<width {
                for c in 0..<3 { rgba[y * stride + x * 4 + c] = rgb[(y * width + x) * 3 + c] }
                rgba[y * stride + x * 4 + 3] = 255
            }
        }
        let rgbFD = try TestInput.descriptor(holding: rgb)
        defer { close(rgbFD) }
        let rgbaFD = try TestInput.pipe(holding: rgba)
        defer { close(rgbaFD) }
        let first = try fixture.engine.submit(AnimationRequest(owner: "c", options: EngineFixture.quickOptions(), image: .raw(
            fileDescriptor: rgbFD, layout: RawPixelLayout(format: .rgb, width: width, height: height, stride: width * 3))))
        let second = try fixture.engine.submit(AnimationRequest(owner: "c", options: EngineFixture.quickOptions(), image: .raw(
            fileDescriptor: rgbaFD, layout: RawPixelLayout(format: .rgba, width: width, height: height, stride: stride))))
        #expect(try fixture.log.waitForCompletion(of: first.id).state == .done)
        #expect(try fixture.log.waitForCompletion(of: second.id).state == .done)
        let a = try fixture.engine.takeFrames(of: first.id)
        let b = try fixture.engine.takeFrames(of: second.id)
        defer { close(a.fileDescriptor); close(b.fileDescriptor) }
        #expect(TestInput.readAll(a.fileDescriptor) == TestInput.readAll(b.fileDescriptor))

        func refusal(_ bytes: [UInt8], _ layout: RawPixelLayout) throws -> ServiceError? {
            let fd = try TestInput.descriptor(holding: bytes)
            defer { close(fd) }
            return Self.submit(fixture, .raw(fileDescriptor: fd, layout: layout))
        }
        // One byte short, one byte too many.
        let short = try refusal(Array(rgb.dropLast()), RawPixelLayout(format: .rgb, width: width, height: height, stride: width * 3))
        #expect(short?.kind == .invalidImage)
        #expect(short?.message.contains("stride × height = \(width * height * 3)") == true)
        #expect(try refusal(rgb + [0], RawPixelLayout(format: .rgb, width: width, height: height, stride: width * 3))?.kind == .invalidImage)
        // A stride shorter than a row, empty and oversized sizes.
        let narrow = try refusal(rgb, RawPixelLayout(format: .rgba, width: width, height: height, stride: width * 3))
        #expect(narrow?.kind == .invalidArgument)
        #expect(narrow?.message.contains("stride") == true)
        #expect(try refusal(rgb, RawPixelLayout(format: .rgb, width: 0, height: height, stride: 0))?.kind == .invalidArgument)
        #expect(try refusal(rgb, RawPixelLayout(format: .rgb, width: 20000, height: 1, stride: 60000))?.kind == .invalidArgument)
        #expect(try refusal(rgb, RawPixelLayout(format: .rgb, width: 16384, height: 16384, stride: 16384 * 3))?.kind == .invalidImage)
        #expect(try refusal(rgb, RawPixelLayout(format: .rgb, width: 4, height: 4, stride: Int.max / 2))?.kind == .invalidImage)
    }

    @Test("options are checked against the model: ranges, modes, the end image, the prompt")
    func options() throws {
        let fixture = try EngineFixture()
        defer { fixture.close() }
        let fd = try TestInput.descriptor(holding: try TestInput.png(width: 64, height: 64))
        defer { close(fd) }
        let image = ImageSource.encoded(fileDescriptor: fd)

        var tooMany = EngineFixture.quickOptions()
        tooMany.frames = 100
        let frames = Self.submit(fixture, image, options: tooMany)
        #expect(frames?.kind == .invalidArgument)
        #expect(frames?.message.contains("frames") == true)
        #expect(frames?.message.contains("2…64") == true)

        var badScale = EngineFixture.quickOptions()
        badScale.guidanceScale = .nan
        #expect(Self.submit(fixture, image, options: badScale)?.message.contains("cfg-scale") == true)

        var interpolate = EngineFixture.quickOptions()
        interpolate.mode = .interpolate
        let noEnd = Self.submit(fixture, image, options: interpolate)
        #expect(noEnd?.kind == .invalidArgument)
        #expect(noEnd?.message.contains("end-image") == true)
        let strayEnd = Self.submit(fixture, image, endImage: image)
        #expect(strayEnd?.kind == .invalidArgument)
        #expect(strayEnd?.message.contains("only used with mode interpolate") == true)

        var longPrompt = EngineFixture.quickOptions()
        longPrompt.prompt = String(repeating: "x", count: 5000)
        #expect(Self.submit(fixture, image, options: longPrompt)?.message.contains("4096") == true)

        let unknown = Self.submit(fixture, image, model: "nonexistent")
        #expect(unknown?.kind == .modelNotFound)
        #expect(unknown?.message.contains("installed: demo") == true)
        #expect(fixture.engine.status.jobCount == 0)
    }

    @Test("interpolation between two images runs")
    func interpolation() throws {
        let fixture = try EngineFixture()
        defer { fixture.close() }
        let start = try TestInput.descriptor(holding: try TestInput.png(width: 64, height: 64))
        let end = try TestInput.pipe(holding: try TestInput.png(width: 32, height: 32))
        defer { close(start); close(end) }
        var options = EngineFixture.quickOptions()
        options.mode = .interpolate
        let job = try fixture.engine.submit(AnimationRequest(owner: "c", options: options, image: .encoded(fileDescriptor: start),
                                                             endImage: .encoded(fileDescriptor: end)))
        #expect(try fixture.log.waitForCompletion(of: job.id).state == .done)
    }
}
