import Foundation
import TestingSupport
#if canImport(Glibc)
import Glibc
#endif

/// Where the plugin, the tools and the binaries under test are, and the environment the
/// GStreamer processes run in. The plugin is built here with `make -C plugins` (quick and
/// incremental), so the suite also works on its own; the daemon and the command-line tool
/// come from a release build (`DYNAMICRAFTERD_BIN`, `DYNAMICRAFTER_BIN`, as for DaemonTests).
enum PluginEnvironment {
    struct Missing: Error, CustomStringConvertible {
        let description: String
    }

    static let repositoryRoot: String = {
        // Tests/PluginTests/PluginEnvironment.swift → the repository root.
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
    }()

    static var pluginDirectory: String { repositoryRoot + "/plugins/build" }
    static var pluginPath: String { pluginDirectory + "/libgstdynamicrafter.so" }
    static var probeScript: String { repositoryRoot + "/plugins/tests/gst_probe.py" }
    /// Debian's interpreter, which has python3-gi (a pyenv or venv python may not).
    static let python = "/usr/bin/python3"
    static let gstLaunch = "/usr/bin/gst-launch-1.0"
    static let gstInspect = "/usr/bin/gst-inspect-1.0"
    static let ffprobe = "/usr/bin/ffprobe"
    static let gdbus = "/usr/bin/gdbus"

    static var daemonBinary: String {
        binary(variable: "DYNAMICRAFTERD_BIN", name: "dynamicrafterd")
    }

    static var cliBinary: String {
        binary(variable: "DYNAMICRAFTER_BIN", name: "dynamicrafter")
    }

    /// The environment's path, else the release build beside the running tests
    /// (`swift test --scratch-path X` after `swift build -c release --scratch-path X`), else
    /// `.build/release`. Never a debug build: the model's kernels are ~30× slower there.
    private static func binary(variable: String, name: String) -> String {
        if let path = ProcessInfo.processInfo.environment[variable], !path.isEmpty { return path }
        if let executable = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            // …/<scratch>/<triple>/debug/DynamiCrafterPackageTests.xctest
            var directory = URL(fileURLWithPath: executable).deletingLastPathComponent()
            for _ in 0..<3 where directory.lastPathComponent != "debug" {
                directory = directory.deletingLastPathComponent()
            }
            if directory.lastPathComponent == "debug" {
                let beside = directory.deletingLastPathComponent().appendingPathComponent("release/" + name).path
                if FileManager.default.isExecutableFile(atPath: beside) { return beside }
            }
        }
        return repositoryRoot + "/.build/release/" + name
    }

    /// Builds the plugin once per test process; later calls wait for the first.
    static func buildPlugin() async throws {
        try await PluginBuild.shared.build()
    }

    /// The environment of a GStreamer process: our build on the plugin path, a registry
    /// of our own (so runs do not disturb the user's cache), and, when given, a bus address
    /// as the session bus.
    static func gstEnvironment(sessionBus: String? = nil) -> [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["GST_PLUGIN_PATH"] = pluginDirectory
        environment["GST_REGISTRY"] = pluginDirectory + "/test-registry.bin"
        environment["GST_DEBUG_NO_COLOR"] = "1"
        if let sessionBus {
            environment["DBUS_SESSION_BUS_ADDRESS"] = sessionBus
        } else {
            environment.removeValue(forKey: "DBUS_SESSION_BUS_ADDRESS")
        }
        return environment
    }

    /// Runs gst-launch-1.0 with a pipeline description (split into words as a shell would
    /// not be needed: each element and property is one argument).
    static func launch(_ pipeline: [String], sessionBus: String?, timeout: Double = 120) async throws -> CommandResult {
        try await buildPlugin()
        return try await Command(
            gstLaunch, pipeline,
            environment: gstEnvironment(sessionBus: sessionBus), timeout: .seconds(timeout)
        ).runOnThread()
    }

    /// Runs the probe script on a pipeline and decodes its report.
    static func probe(_ pipeline: String, options: [String] = [], sessionBus: String?, timeout: Double = 120) async throws -> ProbeReport {
        try await buildPlugin()
        let result = try await Command(
            python, [probeScript, pipeline, "--timeout", String(timeout - 10)] + options,
            environment: gstEnvironment(sessionBus: sessionBus), timeout: .seconds(timeout)
        ).runOnThread()
        guard result.status == 0, let data = result.stdout.data(using: .utf8) else {
            throw Missing(description: "gst_probe.py failed: \(result)")
        }
        do {
            return try JSONDecoder().decode(ProbeReport.self, from: data)
        } catch {
            throw Missing(description: "gst_probe.py printed no report (\(error)): \(result)")
        }
    }

    /// A fresh temporary directory, removed by the caller.
    static func temporaryDirectory(_ prefix: String) throws -> String {
        var template = Array((NSTemporaryDirectory() + "/\(prefix)-XXXXXX").utf8CString)
        let made = template.withUnsafeMutableBufferPointer { buffer -> String? in
            guard let base = buffer.baseAddress, let result = mkdtemp(base) else { return nil }
            return String(cString: result)
        }
        guard let made else { throw Missing(description: "mkdtemp failed: \(String(cString: strerror(errno)))") }
        return made
    }
}

/// The one plugin build of a test process.
actor PluginBuild {
    static let shared = PluginBuild()
    private var running: Task<CommandResult, any Error>?

    func build() async throws {
        // One task shared by every caller: the actor is re-entered while it runs.
        let task = running ?? Task {
            try await Command(
                "/usr/bin/make", ["-C", PluginEnvironment.repositoryRoot + "/plugins"],
                timeout: .seconds(300)
            ).runOnThread()
        }
        running = task
        let outcome = try await task.value
        guard outcome.status == 0 else {
            throw PluginEnvironment.Missing(description: "building the plugin failed: \(outcome)")
        }
    }
}
