import Foundation
import Imaging
import MediaIO
import Testing

@Suite(.enabled(if: MediaTools.haveFFmpeg, "needs ffprobe/ffmpeg (Debian package ffmpeg) to check the outputs"))
struct VideoEncoderTests {
    @Test("Every format's GStreamer elements are installed here")
    func available() {
        for format in VideoFormat.allCases { #expect(VideoEncoder.isAvailable(format), "\(format)") }
    }

    @Test("MP4: H.264 4:2:0, every frame, exact size and frame rate, close to the input", arguments: [(64, 48, 8), (70, 46, 10)])
    func mp4(size: (Int, Int, Int)) throws {
        let (width, height, fps) = size
        let directory = try ScratchDirectory()
        let frames = try TestFrames.gradients(count: 8, width: width, height: height)
        let path = directory.file("clip.mp4")
        try VideoEncoder.write(frames: frames, fps: fps, to: path, format: .mp4)
        let info = try MediaTools.probe(path)
        #expect(info.codec == "h264")
        #expect(info.width == width && info.height == height)
        #expect(info.frames == 8)
        #expect(info.frameRate == "\(fps)/1")
        #expect(info.averageFrameRate == "\(fps)/1")
        let decoded = try MediaTools.decodeAllFrames(path, width: width, height: height)
        try #require(decoded.count == 8)
        // 4:2:0 alone costs about 3 on these sharp-edged gradients (FFmpeg's own lossless x264
        // gives 2.9); a swapped channel or a wrong matrix costs tens.
        for (index, frame) in decoded.enumerated() {
            #expect(TestFrames.meanError(frame, frames[index].pixels) < 6, "frame \(index)")
        }
        #expect(try directory.contents() == ["clip.mp4"])
    }

    @Test("MP4 refuses odd sizes up front and creates nothing")
    func mp4OddSize() throws {
        let directory = try ScratchDirectory()
        let frames = try TestFrames.gradients(count: 2, width: 65, height: 48)
        let path = directory.file("odd.mp4")
        #expect(throws: MediaError.self) { try VideoEncoder.write(frames: frames, fps: 8, to: path, format: .mp4) }
        do {
            try VideoEncoder.write(frames: frames, fps: 8, to: path, format: .mp4)
        } catch {
            #expect(error.kind == .invalidInput && error.message.contains("even"), "\(error)")
        }
        #expect(try directory.contents().isEmpty)
    }

    @Test("WebM: VP8, every frame, exact size and frame rate, odd sizes too", arguments: [(64, 48, 8), (71, 45, 30)])
    func webm(size: (Int, Int, Int)) throws {
        let (width, height, fps) = size
        let directory = try ScratchDirectory()
        let frames = try TestFrames.gradients(count: 8, width: width, height: height)
        let path = directory.file("clip.webm")
        try VideoEncoder.write(frames: frames, fps: fps, to: path, format: .webm)
        let info = try MediaTools.probe(path)
        #expect(info.codec == "vp8")
        #expect(info.width == width && info.height == height)
        #expect(info.frames == 8)
        #expect(info.frameRate == "\(fps)/1")
        let decoded = try MediaTools.decodeAllFrames(path, width: width, height: height)
        try #require(decoded.count == 8)
        for (index, frame) in decoded.enumerated() {
            #expect(TestFrames.meanError(frame, frames[index].pixels) < 6, "frame \(index)")
        }
        #expect(try directory.contents() == ["clip.webm"])
    }

    @Test("GIF with at most 256 colours round-trips exactly through FFmpeg; delays add up", arguments: [8, 6])
    func gifExact(fps: Int) throws {
        let directory = try ScratchDirectory()
        let frames = try TestFrames.blocks(count: 6, width: 61, height: 37)
        let path = directory.file("clip.gif")
        try VideoEncoder.write(frames: frames, fps: fps, to: path, format: .gif)
        let info = try MediaTools.probe(path)
        #expect(info.codec == "gif" && info.width == 61 && info.height == 37 && info.frames == 6)
        // 6 frames at 8 fps: 12/13 cs alternating, 75 cs in all; at 6 fps, 100 cs.
        #expect(abs(try MediaTools.duration(path) - 6.0 / Double(fps)) < 0.011)
        let decoded = try MediaTools.decodeAllFrames(path, width: 61, height: 37)
        #expect(decoded.count == frames.count)
        #expect(decoded == frames.map(\.pixels), "\(mismatches(decoded, frames)) bytes differ")
        // GStreamer's GIF decoder (through decodebin) reads the first frame back.
        #expect(try ImageDecoder.decode(path: path) == frames[0])
    }

    @Test("GIF LZW survives many table resets (noise in 200 colours, exact)")
    func gifNoise() throws {
        let directory = try ScratchDirectory()
        let frames = try TestFrames.noise(count: 3, width: 160, height: 120, colors: 200, seed: 7)
        let path = directory.file("noise.gif")
        try VideoEncoder.write(frames: frames, fps: 10, to: path, format: .gif)
        let decoded = try MediaTools.decodeAllFrames(path, width: 160, height: 120)
        #expect(decoded == frames.map(\.pixels), "\(mismatches(decoded, frames)) bytes differ")
    }

    @Test("GIF of a many-colour clip: the 256-colour palette stays close")
    func gifQuantised() throws {
        let directory = try ScratchDirectory()
        let frames = try TestFrames.gradients(count: 4, width: 48, height: 32)
        let path = directory.file("clip.gif")
        try VideoEncoder.write(frames: frames, fps: 8, to: path, format: .gif)
        let decoded = try MediaTools.decodeAllFrames(path, width: 48, height: 32)
        try #require(decoded.count == 4)
        // Thousands of colours in 256: about 6.3 here, where FFmpeg's palettegen/paletteuse
        // (no dithering) gives 6.4 on the same frames.
        for (index, frame) in decoded.enumerated() {
            #expect(TestFrames.meanError(frame, frames[index].pixels) < 7.5, "frame \(index)")
        }
    }

    @Test("PNG folder: frame_0000.png … decode back to the exact input", arguments: ["frames", "frames/"])
    func pngFolder(name: String) throws {
        let directory = try ScratchDirectory()
        let frames = try TestFrames.gradients(count: 8, width: 35, height: 21)
        let path = directory.file(name)
        try VideoEncoder.write(frames: frames, fps: 8, to: path, format: .png)
        #expect(try directory.contents() == ["frames"])
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.file("frames")).sorted()
        #expect(names == (0..<8).map { "frame_000\($0).png" })
        for (index, name) in names.enumerated() {
            #expect(try ImageDecoder.decode(path: directory.file("frames/\(name)")) == frames[index])
        }
    }

    private func mismatches(_ decoded: [[UInt8]], _ frames: [RGBImage]) -> Int {
        zip(decoded, frames).reduce(abs(decoded.count - frames.count)) { total, pair in
            total + zip(pair.0, pair.1.pixels).filter { $0 != $1 }.count
        }
    }
}
