import Foundation
import Imaging
import MediaIO
import Testing

@Suite(.enabled(if: MediaTools.haveGStreamerTools, "needs gst-launch-1.0 (gstreamer1.0-tools) to make test images"))
struct ImageDecoderTests {
    /// Encodes one frame of a test pattern with a GStreamer encoder into `name`.
    private func makeImage(
        _ directory: ScratchDirectory, _ name: String, pattern: String = "smpte",
        format: String = "RGB", width: Int, height: Int, encoder: String
    ) throws -> String {
        let path = directory.file(name)
        try MediaTools.gst(
            "videotestsrc num-buffers=1 pattern=\(pattern) ! video/x-raw,format=\(format),width=\(width),height=\(height) ! \(encoder)",
            location: path)
        return path
    }

    @Test("PNG decodes to exactly the pixels GStreamer rendered", arguments: [(64, 48), (65, 33), (1, 1), (3, 5), (257, 3)])
    func pngIsExact(size: (Int, Int)) throws {
        let directory = try ScratchDirectory()
        let (width, height) = size
        let expected = try MediaTools.testPattern("smpte", width: width, height: height, in: directory)
        let path = try makeImage(directory, "in.png", width: width, height: height, encoder: "pngenc")
        let image = try ImageDecoder.decode(path: path)
        #expect(image.width == width && image.height == height)
        #expect(image.pixels.count == width * height * 3)
        #expect(image == expected)
    }

    @Test("RGBA PNG: the alpha channel is dropped, colour kept as stored")
    func rgbaDropsAlpha() throws {
        let directory = try ScratchDirectory()
        // Half-transparent orange (ARGB 0x80FF8000).
        let path = directory.file("alpha.png")
        try MediaTools.gst(
            "videotestsrc num-buffers=1 pattern=solid-color foreground-color=0x80FF8000 ! video/x-raw,format=RGBA,width=5,height=3 ! pngenc",
            location: path)
        let image = try ImageDecoder.decode(path: path)
        #expect(image.width == 5 && image.height == 3)
        #expect(image.pixels == Array([UInt8]([255, 128, 0]).repeated(15)))
    }

    @Test("Grayscale PNG: R = G = B = the stored gray level")
    func grayscale() throws {
        let directory = try ScratchDirectory()
        let (width, height) = (13, 7)
        let raw = directory.file("gray.raw")
        try MediaTools.gst("videotestsrc num-buffers=1 pattern=smpte ! video/x-raw,format=GRAY8,width=\(width),height=\(height)", location: raw)
        let stride = (width + 3) / 4 * 4
        let grayRows = [UInt8](try Data(contentsOf: URL(fileURLWithPath: raw)))
        let path = try makeImage(directory, "gray.png", format: "GRAY8", width: width, height: height, encoder: "pngenc")
        let image = try ImageDecoder.decode(path: path)
        var expected: [UInt8] = []
        for row in 0..<height {
            for column in 0..<width {
                let level = grayRows[row * stride + column]
                expected += [level, level, level]
            }
        }
        #expect(image == (try RGBImage(width: width, height: height, pixels: expected)))
    }

    @Test("JPEG decodes close to the source pattern (odd size, 4:2:0)")
    func jpeg() throws {
        let directory = try ScratchDirectory()
        let (width, height) = (71, 45)
        let expected = try MediaTools.testPattern("smpte", width: width, height: height, in: directory)
        let path = try makeImage(directory, "in.jpg", width: width, height: height, encoder: "jpegenc quality=95")
        let image = try ImageDecoder.decode(path: path)
        #expect(image.width == width && image.height == height)
        let meanError = zip(image.pixels, expected.pixels).reduce(0) { $0 + abs(Int($1.0) - Int($1.1)) }
        #expect(Double(meanError) / Double(expected.pixels.count) < 6)
    }

    @Test("Lossless WebP decodes exactly", .enabled(if: MediaTools.hasElements("webpenc", "webpdec")))
    func webp() throws {
        let directory = try ScratchDirectory()
        let expected = try MediaTools.testPattern("smpte", width: 33, height: 17, in: directory)
        let path = try makeImage(directory, "in.webp", width: 33, height: 17, encoder: "webpenc lossless=true")
        #expect(try ImageDecoder.decode(path: path) == expected)
    }

    @Test("decode(fileDescriptor:) reads a file (from its start), a pipe; decode(data:) reads bytes")
    func descriptorAndData() throws {
        let directory = try ScratchDirectory()
        let path = try makeImage(directory, "in.png", width: 40, height: 30, encoder: "pngenc")
        let expected = try ImageDecoder.decode(path: path)

        let fd = open(path, O_RDONLY)
        try #require(fd >= 0)
        defer { close(fd) }
        #expect(try ImageDecoder.decode(fileDescriptor: fd) == expected)
        // A file just written through the descriptor: its offset is at the end.
        let written = open(directory.file("copy.png"), O_RDWR | O_CREAT, 0o600)
        try #require(written >= 0)
        defer { close(written) }
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(bytes.withUnsafeBytes { write(written, $0.baseAddress, $0.count) } == bytes.count)
        #expect(try ImageDecoder.decode(fileDescriptor: written) == expected)

        #expect(try ImageDecoder.decode(data: bytes) == expected)

        // A pipe cannot seek and ends only when the writer closes it.
        var ends: [Int32] = [0, 0]
        try #require(pipe(&ends) == 0)
        let writer = Thread { [ends] in
            _ = bytes.withUnsafeBytes { write(ends[1], $0.baseAddress, $0.count) }
            close(ends[1])
        }
        writer.start()
        defer { close(ends[0]) }
        #expect(try ImageDecoder.decode(fileDescriptor: ends[0]) == expected)
    }

    @Test("Concurrent decodes on several threads agree")
    func concurrent() async throws {
        let directory = try ScratchDirectory()
        let path = try makeImage(directory, "in.png", width: 32, height: 24, encoder: "pngenc")
        let expected = try ImageDecoder.decode(path: path)
        let results = try await withThrowingTaskGroup(of: RGBImage.self) { group in
            for _ in 0..<6 { group.addTask { try ImageDecoder.decode(path: path) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results.count == 6 && results.allSatisfy { $0 == expected })
    }

    // MARK: - Refusals

    private func expectError(_ kind: MediaError.Kind, naming name: String, _ body: () throws(MediaError) -> RGBImage) {
        do {
            let image = try body()
            Issue.record("expected \(kind), decoded a \(image.width)×\(image.height) image")
        } catch {
            #expect(error.kind == kind, "\(error)")
            #expect(error.description.contains(name), "\(error)")
        }
    }

    @Test("Text, empty, truncated and corrupt files are .undecodable, naming the file")
    func undecodable() throws {
        let directory = try ScratchDirectory()
        let png = [UInt8](try Data(contentsOf: URL(fileURLWithPath: try makeImage(directory, "good.png", width: 64, height: 48, encoder: "pngenc"))))
        let text = try directory.write(Array("just some words, not an image\n".utf8), to: "notes.png")
        let empty = try directory.write([], to: "empty.jpg")
        let truncated = try directory.write(Array(png.prefix(png.count / 2)), to: "truncated.png")
        var scrambled = png
        for index in stride(from: 60, to: scrambled.count - 12, by: 3) { scrambled[index] ^= 0x5A }
        let corrupt = try directory.write(scrambled, to: "corrupt.png")
        let headerOnly = try directory.write(Array(png.prefix(8)), to: "header.png")
        for path in [text, empty, truncated, corrupt, headerOnly] {
            expectError(.undecodable, naming: path) { () throws(MediaError) in try ImageDecoder.decode(path: path) }
        }
        expectError(.undecodable, naming: directory.path) { () throws(MediaError) in try ImageDecoder.decode(path: directory.path) }
        expectError(.undecodable, naming: "image data") { () throws(MediaError) in try ImageDecoder.decode(data: Array("plain text".utf8)) }
        expectError(.undecodable, naming: "image data") { () throws(MediaError) in try ImageDecoder.decode(data: []) }
    }

    @Test("A missing file and a bad descriptor are .io")
    func missing() throws {
        let directory = try ScratchDirectory()
        let path = directory.file("nothing-here.png")
        expectError(.io, naming: path) { () throws(MediaError) in try ImageDecoder.decode(path: path) }
        expectError(.io, naming: "file descriptor 987654") { () throws(MediaError) in try ImageDecoder.decode(fileDescriptor: 987654) }
    }

    @Test("Images over the limits are .tooLarge (PNG, JPEG, WebP; width, height, pixel count)")
    func tooLarge() throws {
        let directory = try ScratchDirectory()
        let png = try makeImage(directory, "big.png", width: 64, height: 48, encoder: "pngenc")
        let jpeg = try makeImage(directory, "big.jpg", width: 64, height: 48, encoder: "jpegenc")
        var inputs = [png, jpeg]
        if MediaTools.hasElements("webpenc", "webpdec") {
            inputs.append(try makeImage(directory, "big.webp", width: 64, height: 48, encoder: "webpenc"))
        }
        let limits = [
            ImageLimits(maxWidth: 63, maxHeight: 1000, maxPixels: 1 << 20),
            ImageLimits(maxWidth: 1000, maxHeight: 47, maxPixels: 1 << 20),
            ImageLimits(maxWidth: 1000, maxHeight: 1000, maxPixels: 64 * 48 - 1),
        ]
        for path in inputs {
            for limit in limits {
                expectError(.tooLarge, naming: path) { () throws(MediaError) in try ImageDecoder.decode(path: path, limits: limit) }
            }
            let exact = ImageLimits(maxWidth: 64, maxHeight: 48, maxPixels: 64 * 48)
            #expect(try ImageDecoder.decode(path: path, limits: exact).width == 64)
        }
    }

    @Test("A PNG claiming 20000×20000 is refused as .tooLarge before a decoder is plugged")
    func hostileHeader() throws {
        let directory = try ScratchDirectory()
        // A well-formed PNG whose header claims 20000 × 20000 RGB but whose data is a few bytes:
        // decoding it would make GStreamer set up a 1.2 GB frame.
        func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
            let body = Array(type.utf8) + data
            return bigEndian(UInt32(data.count)) + body + bigEndian(crc32(body))
        }
        var bytes: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        bytes += chunk("IHDR", bigEndian(20000) + bigEndian(20000) + [8, 2, 0, 0, 0])
        bytes += chunk("IDAT", [0x78, 0x9C, 0x63, 0x60, 0xA0, 0x3D, 0x00, 0x00, 0x00, 0x64, 0x00, 0x01])  // zlib of 100 zero bytes
        bytes += chunk("IEND", [])
        let path = try directory.write(bytes, to: "hostile.png")
        let clock = ContinuousClock()
        let start = clock.now
        expectError(.tooLarge, naming: path) { () throws(MediaError) in try ImageDecoder.decode(path: path) }
        expectError(.tooLarge, naming: "image data") { () throws(MediaError) in try ImageDecoder.decode(data: bytes) }
        #expect(clock.now - start < .seconds(2))
    }

    private func bigEndian(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)]
    }

    private func crc32(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return ~crc
    }
}

extension Array {
    func repeated(_ times: Int) -> [Element] {
        (0..<times).flatMap { _ in self }
    }
}
