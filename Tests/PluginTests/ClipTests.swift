import Foundation
import Testing

extension DaemonBackedTests {
    /// Images in, clips out: caps, timestamps, offsets, DISCONT, progress and statistics.
    @Suite struct ClipTests {
        typealias Support = DaemonTestSupport

        @Test func oneImageBecomesOneClipAtTheModelsSizeAndRate() async throws {
            try await Support.withDaemon { bus in
                let report = try await PluginEnvironment.probe(
                    "\(Support.stills(1)) ! dynamicrafter \(Support.quick) ! fakesink name=sink sync=false",
                    sessionBus: bus.address)
                #expect(report.errors.isEmpty, "\(report)")
                #expect(report.eos == 1 && !report.timedOut)
                #expect(report.caps.count == 1)
                #expect(report.caps.first?.contains("format=(string)RGB") == true)
                #expect(report.capsInt("width") == Support.modelSize && report.capsInt("height") == Support.modelSize)
                let fps = try #require(report.framerate, "caps: \(report.caps)")
                #expect(fps.numerator == Support.modelFPS && fps.denominator == 1, "the model's rate by default")
                Support.expectTimeline(report.buffers, framesPerClip: 4, clips: 1, fps: fps,
                                       frameBytes: Support.rgbFrameBytes(width: 64, height: 64))
                // Real frames, not one frame repeated.
                #expect(Set(report.buffers.compactMap(\.sha1)).count > 1)
                // Sticky events in order, one segment from 0.
                let types = report.events.map(\.type)
                #expect(types == ["stream-start", "caps", "segment", "eos"], "\(types)")
                #expect(report.events.first { $0.segment != nil }?.segment?.start == 0)

                // Progress: the job's steps in order up to the total, ending done; and
                // GStreamer's own progress messages from start to complete.
                let progress = report.progress
                let steps = progress.compactMap { $0["step"]?.int }
                #expect(steps == steps.sorted(), "steps in order: \(steps)")
                #expect(steps.last == 4)
                #expect(progress.allSatisfy { $0["total"]?.int == 4 && $0["clip"]?.int == 0 })
                #expect(progress.contains { $0["stage"]?.string == "denoising" && $0["remaining-seconds"]?.double != nil })
                #expect(progress.last?["state"]?.string == "done")
                // GstProgressType: 0 start, 1 continue, 2 complete.
                let kinds = report.messages.filter { $0.type == "progress" }.compactMap { $0.structure?["type"]?.int }
                #expect(kinds.first == 0 && kinds.last == 2 && kinds.dropFirst().dropLast().allSatisfy { $0 == 1 }, "\(kinds)")

                let statistics = try #require(report.properties)
                #expect(statistics.clipsDone == 1)
                #expect(statistics.latency > 0 && Double(statistics.latency) / 1e9 < report.elapsed)
            }
        }

        @Test func severalImagesGiveContinuousTimestamps() async throws {
            try await Support.withDaemon { bus in
                let report = try await PluginEnvironment.probe(
                    "\(Support.stills(3, format: "RGBA")) ! dynamicrafter \(Support.quick) ! fakesink name=sink sync=false",
                    sessionBus: bus.address)
                #expect(report.errors.isEmpty, "\(report)")
                #expect(report.eos == 1)
                let fps = try #require(report.framerate)
                Support.expectTimeline(report.buffers, framesPerClip: 4, clips: 3, fps: fps,
                                       frameBytes: Support.rgbFrameBytes(width: 64, height: 64))
                // One caps and one segment for the whole stream.
                #expect(report.events.map(\.type) == ["stream-start", "caps", "segment", "eos"])
                #expect(Set(report.progress.compactMap { $0["clip"]?.int }) == [0, 1, 2])
                #expect(report.properties?.clipsDone == 3)
            }
        }

        @Test func downstreamChoosesTheSizeAndFrameRate() async throws {
            try await Support.withDaemon { bus in
                // 50×30 is scaled from 64×64 and has padded rows (150 → 152 bytes).
                let report = try await PluginEnvironment.probe(
                    "\(Support.stills(1, format: "RGB")) ! dynamicrafter \(Support.quick) ! "
                        + "video/x-raw,width=50,height=30,framerate=30/1 ! fakesink name=sink sync=false",
                    sessionBus: bus.address)
                #expect(report.errors.isEmpty, "\(report)")
                #expect(report.capsInt("width") == 50 && report.capsInt("height") == 30)
                let fps = try #require(report.framerate)
                #expect(fps.numerator == 30 && fps.denominator == 1)
                Support.expectTimeline(report.buffers, framesPerClip: 4, clips: 1, fps: fps,
                                       frameBytes: Support.rgbFrameBytes(width: 50, height: 30))
            }
        }

        @Test func loopModeMakesOneFrameFewer() async throws {
            try await Support.withDaemon { bus in
                let report = try await PluginEnvironment.probe(
                    "\(Support.stills(1)) ! dynamicrafter \(Support.quick) mode=loop ! fakesink name=sink sync=false",
                    sessionBus: bus.address)
                #expect(report.errors.isEmpty, "\(report)")
                let fps = try #require(report.framerate)
                Support.expectTimeline(report.buffers, framesPerClip: 3, clips: 1, fps: fps,
                                       frameBytes: Support.rgbFrameBytes(width: 64, height: 64))
            }
        }

        @Test func interpolateModeMakesAClipPerPairOfImages() async throws {
            try await Support.withDaemon { bus in
                // Three images: from the first to the second, from the second to the third.
                let report = try await PluginEnvironment.probe(
                    "\(Support.stills(3)) ! dynamicrafter \(Support.quick) mode=interpolate ! fakesink name=sink sync=false",
                    sessionBus: bus.address)
                #expect(report.errors.isEmpty, "\(report)")
                let fps = try #require(report.framerate)
                Support.expectTimeline(report.buffers, framesPerClip: 4, clips: 2, fps: fps,
                                       frameBytes: Support.rgbFrameBytes(width: 64, height: 64))
                #expect(report.properties?.clipsDone == 2)
            }
        }

        @Test func flushingSeekReplaysTheClipFromThere() async throws {
            try await Support.withDaemon { bus in
                // After EOS, seek to frame 2 (0.25 s at 8 fps): the same frames again, with a
                // new segment from there, DISCONT, then EOS once more.
                let report = try await PluginEnvironment.probe(
                    "\(Support.stills(1)) ! dynamicrafter \(Support.quick) ! fakesink name=sink sync=false",
                    options: ["--seek-after-eos", "0.25"], sessionBus: bus.address)
                #expect(report.errors.isEmpty, "\(report)")
                #expect(report.seekAccepted == true)
                #expect(report.eos == 2)
                let fps = try #require(report.framerate)
                let replayed = report.buffersAfterSeek
                #expect(replayed.map(\.offset) == [2, 3])
                #expect(replayed.map(\.pts) == [Support.frameTime(2, fps), Support.frameTime(3, fps)])
                #expect(replayed.first?.discont == true)
                #expect(replayed.map(\.sha1) == report.buffers.suffix(2).map(\.sha1), "the same frames")
                let segment = report.events.first { $0.afterSeek && $0.segment != nil }?.segment
                #expect(segment?.start == 250_000_000)
                #expect(report.properties?.clipsDone == 1, "replayed, not made again")
            }
        }

        @Test func downstreamRefusingRGBIsANegotiationError() async throws {
            try await Support.withDaemon { bus in
                // Linked with open caps, narrowed afterwards: the element finds out when its
                // first clip is ready and stops with a negotiation error.
                let report = try await PluginEnvironment.probe(
                    "\(Support.stills(1)) ! dynamicrafter \(Support.quick) ! capsfilter name=f ! fakesink name=sink",
                    options: ["--set-caps", "f=video/x-raw,format=I420"], sessionBus: bus.address)
                let error = try #require(report.errors.first, "no error")
                #expect(error.source == "dynamicrafter0")
                #expect(error.domain == "gst-core-error-quark")
                #expect(error.message == "Downstream accepts no RGB video with a frame rate", "\(error)")
                #expect(report.buffers.isEmpty)
            }
        }
    }
}
