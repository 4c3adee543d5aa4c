import Foundation
import Testing
import TestingSupport
#if canImport(Glibc)
import Glibc
#endif

extension DaemonBackedTests {
    /// Stopping mid-clip, EOS sent to the element, and the daemon's failures, each while a job
    /// runs. The measured times are printed for the record.
    @Suite struct StopAndErrorTests {
        typealias Support = DaemonTestSupport

        /// Many steps so the job is surely still running when the pipeline is stopped.
        static let long = "frames=4 steps=500"

        @Test(arguments: [
            // While prerolling (still READY on the way to PLAYING): the first clip is in the works, no
            // frame has gone out yet.
            (clip: 0, options: [String](), state: "ready", pending: "playing"),
            // While playing: the first clip went out quickly, the second one is long.
            (clip: 1, options: ["--set-on-first-buffer", "steps=500"], state: "playing", pending: "void-pending"),
        ])
        func stoppingMidClipIsPromptAndCancelsTheJob(clip: Int, options: [String], state: String, pending: String) async throws {
            try await Support.withDaemon { bus in
                let settings = clip == 0 ? Self.long : Support.quick
                let report = try await PluginEnvironment.probe(
                    "\(Support.stills(2)) ! dynamicrafter \(settings) ! fakesink name=sink",
                    options: ["--stop-on-progress", "denoising", "--action-clip", "\(clip)"] + options,
                    sessionBus: bus.address)
                #expect(report.errors.isEmpty, "\(report)")
                #expect(report.stateAtAction == state && report.pendingStateAtAction == pending)
                let seconds = try #require(report.stopSeconds, "never stopped: \(report)")
                // The daemon's job is cancelled, not left running: it is idle again soon.
                let idle = await bus.waitForDaemonState("idle", timeout: 10)
                print("dynamicrafter stop mid-clip (\(clip == 0 ? "prerolling" : "playing")): set_state(NULL) took \(String(format: "%.1f", seconds * 1000)) ms; "
                      + "daemon idle \(idle.map { String(format: "%.0f ms", $0 * 1000) } ?? "never") after")
                #expect(seconds < 0.25, "stopping took \(seconds) s")
                #expect(idle != nil && idle! < 2, "the daemon's job was not cancelled promptly")
                #expect(report.buffers.count == clip * 4)
            }
        }

        @Test func eosSentToTheElementEndsTheStreamNow() async throws {
            try await Support.withDaemon { bus in
                let report = try await PluginEnvironment.probe(
                    "\(Support.stills(2)) ! dynamicrafter \(Self.long) ! fakesink name=sink",
                    options: ["--eos-on-progress", "denoising"], sessionBus: bus.address)
                #expect(report.errors.isEmpty, "\(report)")
                #expect(report.eos == 1)
                let seconds = try #require(report.eosLatencySeconds, "EOS never reached the sink: \(report)")
                let idle = await bus.waitForDaemonState("idle", timeout: 10)
                print("dynamicrafter direct EOS mid-clip: EOS downstream after \(String(format: "%.1f", seconds * 1000)) ms; "
                      + "daemon idle \(idle.map { String(format: "%.0f ms", $0 * 1000) } ?? "never") after")
                #expect(seconds < 0.25)
                #expect(idle != nil && idle! < 2)
                #expect(report.buffers.isEmpty)
            }
        }

        @Test func unknownModelIsAnElementErrorWithTheDaemonsMessage() async throws {
            try await Support.withDaemon { bus in
                let result = try await PluginEnvironment.launch(
                    ["videotestsrc", "num-buffers=1", "!", "dynamicrafter", "model=no-such-model", "frames=4", "steps=4",
                     "!", "fakesink"],
                    sessionBus: bus.address, timeout: 60)
                #expect(result.status != 0, "\(result)")
                let text = result.stdout + result.stderr
                let line = text.split(separator: "\n").first { $0.hasPrefix("ERROR: from element /GstPipeline:pipeline0/GstDynamiCrafter:dynamicrafter0:") }
                #expect(line?.contains("no-such-model") == true, "the daemon's message names the model: \(result)")
                #expect(text.contains("org.dynamicrafter.Animator1.Error.ModelNotFound"), "\(result)")
            }
        }

        @Test func failedJobIsAnElementErrorWithTheDaemonsMessage() async throws {
            // Animate accepts the job; loading the model fails, which the job's Completed
            // signal reports (ModelLoadFailed), mid-clip as far as the pipeline knows.
            let models = try await DemoModels.shared.brokenDirectory()
            try await DaemonBus.with(modelsDirectory: models) { bus in
                let report = try await PluginEnvironment.probe(
                    "\(Support.stills(1)) ! dynamicrafter model=broken \(Support.quick) ! fakesink name=sink",
                    sessionBus: bus.address, timeout: 60)
                let error = try #require(report.errors.first, "no error: \(report)")
                #expect(error.source == "dynamicrafter0")
                #expect(error.message.contains("broken"), "the daemon's message: \(error.message)")
                #expect(error.debug?.contains("org.dynamicrafter.Animator1.Error.ModelLoadFailed") == true, "\(error)")
                #expect(error.debug?.contains("job /org/dynamicrafter/Animator1/Job/") == true, "a job's failure, not a call's")
                #expect(report.progress.contains { $0["state"]?.string == "failed" })
                #expect(report.buffers.isEmpty)
            }
        }

        @Test func daemonLeavingMidClipIsAnElementError() async throws {
            try await Support.withDaemon { bus in
                async let running = PluginEnvironment.probe(
                    "\(Support.stills(1)) ! dynamicrafter \(Self.long) ! fakesink name=sink",
                    sessionBus: bus.address, timeout: 60)
                // Kill the daemon once it works on the job.
                let busy = await bus.waitForDaemonState("busy", timeout: 30)
                let pid = await bus.daemonPID()
                #expect(busy != nil && pid != nil, "the daemon never got busy")
                if let pid { kill(pid, SIGKILL) }
                let report = try await running
                let error = try #require(report.errors.first, "no error: \(report)")
                #expect(error.source == "dynamicrafter0")
                #expect(error.message.contains("The dynamicrafterd daemon left the session bus before finishing clip 0"), "\(error)")
                #expect(report.buffers.isEmpty)
            }
        }
    }
}
