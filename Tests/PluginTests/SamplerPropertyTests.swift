import Foundation
import Testing
import TestingSupport

extension DaemonBackedTests {
    /// The `sampler` property reaches the daemon as its option of that name.
    @Suite struct SamplerPropertyTests {
        typealias Support = DaemonTestSupport

        @Test func solverSamplerMakesAClip() async throws {
            try await Support.withDaemon { bus in
                let report = try await PluginEnvironment.probe(
                    "\(Support.stills(1)) ! dynamicrafter \(Support.quick) sampler=dpmpp-2m ! fakesink name=sink sync=false",
                    sessionBus: bus.address)
                #expect(report.errors.isEmpty, "\(report)")
                let fps = try #require(report.framerate)
                Support.expectTimeline(report.buffers, framesPerClip: 4, clips: 1, fps: fps,
                                       frameBytes: Support.rgbFrameBytes(width: 64, height: 64))
                #expect(report.progress.compactMap { $0["step"]?.int }.last == 4)
            }
        }

        @Test func etaWithASolverIsAnElementErrorWithTheDaemonsMessage() async throws {
            try await Support.withDaemon { bus in
                let result = try await PluginEnvironment.launch(
                    ["videotestsrc", "num-buffers=1", "!", "dynamicrafter", "sampler=unipc", "eta=0.5", "frames=4", "steps=4",
                     "!", "fakesink"],
                    sessionBus: bus.address, timeout: 60)
                #expect(result.status != 0, "\(result)")
                let text = result.stdout + result.stderr
                let line = text.split(separator: "\n").first { $0.hasPrefix("ERROR: from element /GstPipeline:pipeline0/GstDynamiCrafter:dynamicrafter0:") }
                #expect(line?.contains("eta") == true, "the daemon's message names eta: \(result)")
                #expect(text.contains("org.dynamicrafter.Animator1.Error.InvalidArgument"), "\(result)")
            }
        }
    }
}

extension NoDaemonTests {
    /// An unknown sampler is refused by GLib's enum parsing, before any bus is involved.
    @Test func unknownSamplerIsRefusedByTheProperty() async throws {
        let result = try await PluginEnvironment.launch(
            ["videotestsrc", "num-buffers=1", "!", "dynamicrafter", "sampler=euler", "!", "fakesink"],
            sessionBus: nil, timeout: 60)
        #expect(result.status != 0, "\(result)")
        #expect((result.stdout + result.stderr).contains("euler"), "\(result)")
    }
}
