import Foundation
import Testing
import TestingSupport

/// What happens before any image reaches a daemon: caps the element cannot take, a bus
/// without the service, a bus that is not there.
@Suite struct NoDaemonTests {
    @Test func capsOutsideTheTemplateDoNotLink() async throws {
        // I420 is not in the sink template: gst-launch refuses to link, no bus is involved.
        let result = try await PluginEnvironment.launch(
            ["videotestsrc", "num-buffers=1", "!", "video/x-raw,format=I420", "!", "dynamicrafter", "!", "fakesink"],
            sessionBus: nil, timeout: 60)
        #expect(result.status != 0, "\(result)")
        #expect((result.stdout + result.stderr).contains("could not link"), "\(result)")

        // Nor does downstream that wants anything but RGB with a frame rate.
        let output = try await PluginEnvironment.launch(
            ["videotestsrc", "num-buffers=1", "!", "dynamicrafter", "!", "video/x-raw,format=I420", "!", "fakesink"],
            sessionBus: nil, timeout: 60)
        #expect(output.status != 0, "\(output)")
        #expect((output.stdout + output.stderr).contains("could not link"), "\(output)")
    }

    @Test func capsChangedAfterLinkingFailNegotiationAtRuntime() async throws {
        // Linked with acceptable caps, then the capsfilter narrowed to a format the element
        // refuses: upstream's caps event is rejected and the stream stops not-negotiated.
        try await DaemonBus.with { bus in
            let report = try await PluginEnvironment.probe(
                "videotestsrc num-buffers=1 ! capsfilter name=f ! dynamicrafter ! fakesink name=sink",
                options: ["--set-caps", "f=video/x-raw,format=I420,width=64,height=64"],
                sessionBus: bus.address, timeout: 60)
            let error = try #require(report.errors.first, "no error: \(report)")
            #expect(error.source == "videotestsrc0")
            #expect(error.debug?.contains("not-negotiated") == true, "\(error)")
            #expect(report.buffers.isEmpty)
        }
    }

    @Test func daemonThatCannotBeActivatedIsAnElementError() async throws {
        // A bus with no service file for org.dynamicrafter.Animator1.
        try await DaemonBus.with { bus in
            let result = try await PluginEnvironment.launch(
                ["videotestsrc", "num-buffers=1", "!", "dynamicrafter", "!", "fakesink"],
                sessionBus: bus.address, timeout: 60)
            #expect(result.status != 0, "\(result)")
            let text = result.stdout + result.stderr
            #expect(text.contains("ERROR: from element /GstPipeline:pipeline0/GstDynamiCrafter:dynamicrafter0: The dynamicrafterd daemon is not running on the session bus and cannot be started there"), "\(result)")
            // The bus's own explanation comes along.
            #expect(text.contains("org.dynamicrafter.Animator1 was not provided by any .service files"), "\(result)")
            #expect(result.seconds < 20)
        }
    }

    @Test(arguments: [
        ("unix:path=/nonexistent/dynamicrafter-bus", "cannot connect to the bus at unix:path=/nonexistent/dynamicrafter-bus"),
        ("not-an-address", "'not-an-address' is not a D-Bus address"),
    ])
    func unreachableBusFailsTheStateChange(bus: String, expected: String) async throws {
        let result = try await PluginEnvironment.launch(
            ["videotestsrc", "num-buffers=1", "!", "dynamicrafter", "bus=\(bus)", "!", "fakesink"],
            sessionBus: nil, timeout: 60)
        #expect(result.status != 0, "\(result)")
        let text = result.stdout + result.stderr
        #expect(text.contains("GstDynamiCrafter:dynamicrafter0: \(expected)"), "\(result)")
        #expect(text.contains("Failed to set pipeline to PAUSED"), "\(result)")
    }

    @Test func invalidServiceNameIsRefusedWithItsName() async throws {
        try await DaemonBus.with { bus in
            let result = try await PluginEnvironment.launch(
                ["videotestsrc", "num-buffers=1", "!", "dynamicrafter", "service-name=not a name", "!", "fakesink"],
                sessionBus: bus.address, timeout: 60)
            #expect(result.status != 0, "\(result)")
            #expect((result.stdout + result.stderr).contains("service-name 'not a name' is not a D-Bus bus name"), "\(result)")
        }
    }
}
