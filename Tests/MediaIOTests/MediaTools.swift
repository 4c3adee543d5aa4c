import Foundation
import Imaging
import MediaIO
import TestingSupport

/// External GStreamer and FFmpeg command-line tools: they make the test inputs (so no binary
/// fixtures are committed) and judge the outputs independently of the code under test.
enum MediaTools {
    static let gstLaunch = "/usr/bin/gst-launch-1.0"
    static let ffprobe = "/usr/bin/ffprobe"
    static let ffmpeg = "/usr/bin/ffmpeg"

    static var haveGStreamerTools: Bool { FileManager.default.isExecutableFile(atPath: gstLaunch) }
    static var haveFFmpeg: Bool {
        FileManager.default.isExecutableFile(atPath: ffprobe) && FileManager.default.isExecutableFile(atPath: ffmpeg)
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Runs a tool to completion; returns its standard output, throws with its standard error.
    @discardableResult
    static func run(_ tool: String, _ arguments: [String]) throws -> Data {
        try Command(tool, arguments).run().checked().stdoutData
    }

    /// `gst-launch-1.0 -q <pipeline>`; the pipeline is given as separate words.
    static func gst(_ pipeline: String, location: String) throws {
        let words = pipeline.split(separator: " ").map(String.init) + ["!", "filesink", "location=\(location)"]
        try run(gstLaunch, ["-q"] + words)
    }

    /// One frame of a videotestsrc pattern as tightly packed RGB: GStreamer's own raw RGB dump,
    /// with its 4-byte row padding removed.
    static func testPattern(_ pattern: String, width: Int, height: Int, in directory: ScratchDirectory) throws -> RGBImage {
        let raw = directory.file("pattern-\(pattern)-\(width)x\(height).rgb")
        try gst("videotestsrc num-buffers=1 pattern=\(pattern) ! video/x-raw,format=RGB,width=\(width),height=\(height)", location: raw)
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: raw)))
        let stride = (width * 3 + 3) / 4 * 4
        guard bytes.count == stride * height else {
            throw Failure(description: "raw dump has \(bytes.count) bytes, expected \(stride * height)")
        }
        var pixels: [UInt8] = []
        pixels.reserveCapacity(width * height * 3)
        for row in 0..<height {
            pixels += bytes[(row * stride)..<(row * stride + width * 3)]
        }
        return try RGBImage(width: width, height: height, pixels: pixels)
    }

    struct StreamInfo {
        let codec: String
        let width: Int
        let height: Int
        let frames: Int
        let frameRate: String
        let averageFrameRate: String
    }

    /// ffprobe's view of the first video stream, frames counted by decoding them.
    static func probe(_ path: String) throws -> StreamInfo {
        let out = try run(ffprobe, [
            "-v", "error", "-count_frames", "-select_streams", "v:0",
            "-show_entries", "stream=codec_name,width,height,nb_read_frames,r_frame_rate,avg_frame_rate",
            "-of", "default=noprint_wrappers=1", path,
        ])
        var fields: [String: String] = [:]
        for line in String(decoding: out, as: UTF8.self).split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1).map(String.init)
            if parts.count == 2 { fields[parts[0]] = parts[1] }
        }
        return StreamInfo(
            codec: fields["codec_name"] ?? "", width: Int(fields["width"] ?? "") ?? -1,
            height: Int(fields["height"] ?? "") ?? -1, frames: Int(fields["nb_read_frames"] ?? "") ?? -1,
            frameRate: fields["r_frame_rate"] ?? "", averageFrameRate: fields["avg_frame_rate"] ?? "")
    }

    /// The container's duration in seconds, as ffprobe reads it.
    static func duration(_ path: String) throws -> Double {
        let out = try run(ffprobe, ["-v", "error", "-show_entries", "format=duration", "-of", "default=noprint_wrappers=1:nokey=1", path])
        return Double(String(decoding: out, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
    }

    /// Every frame of a video decoded by FFmpeg to packed RGB (passthrough: no frame is
    /// duplicated or dropped to even out the GIF's varying delays).
    static func decodeAllFrames(_ path: String, width: Int, height: Int) throws -> [[UInt8]] {
        let out = [UInt8](try run(ffmpeg, ["-v", "error", "-i", path, "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]))
        let size = width * height * 3
        guard size > 0, out.count % size == 0 else {
            throw Failure(description: "ffmpeg gave \(out.count) bytes, not a multiple of \(size)")
        }
        return stride(from: 0, to: out.count, by: size).map { Array(out[$0..<($0 + size)]) }
    }
}

/// A fresh directory under the system temporary folder, removed with everything in it when
/// the test lets go of it.
final class ScratchDirectory {
    let path: String

    init() throws {
        var template = Array("\(NSTemporaryDirectory())/mediaio-test-XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ $0.baseAddress.flatMap { mkdtemp($0) } }) else {
            throw MediaTools.Failure(description: "mkdtemp failed")
        }
        path = String(cString: made)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }

    func file(_ name: String) -> String { "\(path)/\(name)" }

    /// Names in the directory, hidden ones included, sorted.
    func contents() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: path).sorted()
    }

    func write(_ bytes: [UInt8], to name: String) throws -> String {
        let target = file(name)
        try Data(bytes).write(to: URL(fileURLWithPath: target))
        return target
    }
}

extension MediaTools {
    /// Whether gst-inspect-1.0 finds every one of these elements.
    static func hasElements(_ names: String...) -> Bool {
        names.allSatisfy { name in (try? run("/usr/bin/gst-inspect-1.0", ["--exists", name])) != nil }
    }
}
