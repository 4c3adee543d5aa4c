import Foundation
import Testing
import TestingSupport

/// Shared pieces of the tests that run the element against a real `dynamicrafterd` on a
/// private bus, started by D-Bus activation, with the 64×64 demo model.
enum DaemonTestSupport {
    /// The demo model's clip: 64×64 frames at the 8 fps its configuration's defaults give
    /// (TakeFrames' `fps`).
    static let modelSize = 64
    static let modelFPS: UInt64 = 8
    /// Small settings that keep a clip to seconds.
    static let quick = "frames=4 steps=4"

    /// `count` test images of the given raw format, one buffer each.
    static func stills(_ count: Int, format: String = "BGRx", width: Int = 80, height: Int = 60) -> String {
        "videotestsrc num-buffers=\(count) pattern=ball ! video/x-raw,format=\(format),width=\(width),height=\(height),framerate=1/1"
    }

    /// Runs `body` against a daemon that D-Bus activation starts on a private bus.
    static func withDaemon<R>(_ body: (DaemonBus) async throws -> R) async throws -> R {
        let models = try await DemoModels.shared.directory()
        return try await DaemonBus.with(modelsDirectory: models, body)
    }

    /// Timestamp of output frame `k` at `fps` (GStreamer's gst_util_uint64_scale rounds down).
    static func frameTime(_ k: UInt64, _ fps: (numerator: UInt64, denominator: UInt64)) -> UInt64 {
        k * 1_000_000_000 * fps.denominator / fps.numerator
    }

    /// Checks a run of frames: timestamps and durations from the frame rate, running on
    /// across clips from `firstFrame`, offsets counting frames, DISCONT on each clip's first.
    static func expectTimeline(
        _ buffers: [ProbeReport.Buffer], firstFrame: UInt64 = 0, framesPerClip: Int, clips: Int,
        fps: (numerator: UInt64, denominator: UInt64), frameBytes: Int,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(buffers.count == framesPerClip * clips, "frames: \(buffers.count)", sourceLocation: sourceLocation)
        for (index, buffer) in buffers.enumerated() {
            let k = firstFrame + UInt64(index)
            let start = frameTime(k, fps), end = frameTime(k + 1, fps)
            #expect(buffer.pts == start, "frame \(k) pts", sourceLocation: sourceLocation)
            #expect(buffer.duration == end - start, "frame \(k) duration", sourceLocation: sourceLocation)
            #expect(buffer.offset == k && buffer.offsetEnd == k + 1, "frame \(k) offsets", sourceLocation: sourceLocation)
            #expect(buffer.discont == (k % UInt64(framesPerClip) == 0), "frame \(k) DISCONT", sourceLocation: sourceLocation)
            #expect(buffer.size == frameBytes, "frame \(k) size", sourceLocation: sourceLocation)
        }
    }

    /// GStreamer's RGB rows are padded to 4 bytes.
    static func rgbFrameBytes(width: Int, height: Int) -> Int {
        ((width * 3 + 3) / 4 * 4) * height
    }

    /// ffprobe's view of a video file's first video stream, frames counted by decoding.
    struct Probe: Decodable {
        struct Stream: Decodable {
            let codecName: String
            let width: Int
            let height: Int
            let rFrameRate: String
            let nbReadFrames: String?

            enum CodingKeys: String, CodingKey {
                case width, height
                case codecName = "codec_name"
                case rFrameRate = "r_frame_rate"
                case nbReadFrames = "nb_read_frames"
            }
        }

        let streams: [Stream]
    }

    static func ffprobe(_ path: String) async throws -> Probe.Stream {
        let result = try await Command(
            PluginEnvironment.ffprobe,
            ["-v", "error", "-count_frames", "-select_streams", "v:0",
             "-show_entries", "stream=codec_name,width,height,r_frame_rate,nb_read_frames", "-of", "json", path],
            timeout: .seconds(60)
        ).runOnThread()
        guard result.status == 0, let data = result.stdout.data(using: .utf8) else {
            throw PluginEnvironment.Missing(description: "ffprobe \(path) failed: \(result)")
        }
        let probe = try JSONDecoder().decode(Probe.self, from: data)
        guard let stream = probe.streams.first else {
            throw PluginEnvironment.Missing(description: "ffprobe found no video stream in \(path)")
        }
        return stream
    }
}
