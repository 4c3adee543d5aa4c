import Foundation
import Testing
import TestingSupport

extension DaemonBackedTests {
    /// The README's pipelines, run with gst-launch-1.0 and checked with ffprobe: a photo to
    /// an mp4, a folder of images to a webm, an image to PNG frames.
    @Suite struct EncodingTests {
        typealias Support = DaemonTestSupport

        /// Writes test images with GStreamer's own encoders.
        private static func makeImages(_ count: Int, encoder: String, location: String) async throws {
            let result = try await PluginEnvironment.launch(
                ["videotestsrc", "num-buffers=\(count)", "pattern=ball", "!", "video/x-raw,width=96,height=72", "!",
                 encoder, "!", count == 1 ? "filesink" : "multifilesink", "location=\(location)"],
                sessionBus: nil, timeout: 60)
            guard result.status == 0 else {
                throw PluginEnvironment.Missing(description: "cannot write test images: \(result)")
            }
        }

        @Test func photoToMp4() async throws {
            let directory = try PluginEnvironment.temporaryDirectory("dynamicrafter-gst-mp4")
            defer { try? FileManager.default.removeItem(atPath: directory) }
            try await Self.makeImages(1, encoder: "jpegenc", location: directory + "/photo.jpg")
            try await Support.withDaemon { bus in
                let result = try await PluginEnvironment.launch(
                    ["filesrc", "location=\(directory)/photo.jpg", "!", "decodebin", "!", "videoconvert", "!",
                     "dynamicrafter", "prompt=\"waves crashing\"", "frames=4", "steps=4", "!", "videoconvert", "!",
                     "x264enc", "bframes=0", "!", "mp4mux", "!", "filesink", "location=\(directory)/clip.mp4"],
                    sessionBus: bus.address)
                #expect(result.status == 0, "\(result)")
                let stream = try await Support.ffprobe(directory + "/clip.mp4")
                #expect(stream.codecName == "h264")
                #expect(stream.width == 64 && stream.height == 64)
                #expect(stream.rFrameRate == "\(Support.modelFPS)/1")
                #expect(stream.nbReadFrames == "4")
            }
        }

        @Test func folderOfImagesToWebm() async throws {
            let directory = try PluginEnvironment.temporaryDirectory("dynamicrafter-gst-webm")
            defer { try? FileManager.default.removeItem(atPath: directory) }
            try await Self.makeImages(2, encoder: "pngenc", location: directory + "/image-%02d.png")
            try await Support.withDaemon { bus in
                let result = try await PluginEnvironment.launch(
                    ["multifilesrc", "location=\(directory)/image-%02d.png", "caps=image/png,framerate=1/1", "!",
                     "pngdec", "!", "videoconvert", "!", "dynamicrafter", "frames=4", "steps=4", "!", "videoconvert", "!",
                     "vp8enc", "deadline=1", "!", "webmmux", "!", "filesink", "location=\(directory)/clips.webm"],
                    sessionBus: bus.address)
                #expect(result.status == 0, "\(result)")
                let stream = try await Support.ffprobe(directory + "/clips.webm")
                #expect(stream.codecName == "vp8")
                #expect(stream.width == 64 && stream.height == 64)
                #expect(stream.nbReadFrames == "8", "two clips of four frames")
            }
        }

        @Test func imageToPngFrames() async throws {
            let directory = try PluginEnvironment.temporaryDirectory("dynamicrafter-gst-png")
            defer { try? FileManager.default.removeItem(atPath: directory) }
            try await Self.makeImages(1, encoder: "pngenc", location: directory + "/photo.png")
            try await Support.withDaemon { bus in
                let result = try await PluginEnvironment.launch(
                    ["filesrc", "location=\(directory)/photo.png", "!", "decodebin", "!", "videoconvert", "!",
                     "dynamicrafter", "frames=4", "steps=4", "!", "videoconvert", "!", "pngenc", "!",
                     "multifilesink", "location=\(directory)/frame-%03d.png"],
                    sessionBus: bus.address)
                #expect(result.status == 0, "\(result)")
                let frames = try FileManager.default.contentsOfDirectory(atPath: directory)
                    .filter { $0.hasPrefix("frame-") }.sorted()
                #expect(frames == ["frame-000.png", "frame-001.png", "frame-002.png", "frame-003.png"])
                for frame in frames {
                    let stream = try await Support.ffprobe(directory + "/" + frame)
                    #expect(stream.codecName == "png" && stream.width == 64 && stream.height == 64)
                }
            }
        }
    }
}
