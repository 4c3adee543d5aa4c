import TestingSupport
import Foundation

/// Finds the executables the integration tests run: the daemon and the command-line tool
/// (which writes the demo model). An explicit path in the environment wins
/// (`DYNAMICRAFTERD_BIN`, `DYNAMICRAFTER_BIN`; scripts/test.sh sets them to the release
/// builds); otherwise the release products directory beside the running test bundle's (the
/// model's kernels are ~30× slower in debug builds), then the debug one beside it, then the
/// newest `.build*/release`, then the newest `.build*/debug` under the package root.
enum Executables {
    struct Missing: Error, CustomStringConvertible {
        let description: String
    }

    static var packageRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    static func daemon() throws -> String {
        try find("dynamicrafterd", environment: "DYNAMICRAFTERD_BIN", build: "swift build -c release --product dynamicrafterd")
    }

    static func cli() throws -> String {
        try find("dynamicrafter", environment: "DYNAMICRAFTER_BIN", build: "swift build -c release --product dynamicrafter")
    }

    private static func find(_ name: String, environment variable: String, build: String) throws -> String {
        let fm = FileManager.default
        if let explicit = ProcessInfo.processInfo.environment[variable], !explicit.isEmpty {
            guard fm.isExecutableFile(atPath: explicit) else { throw Missing(description: "\(variable)=\(explicit) is not an executable") }
            return explicit
        }
        func executable(_ url: URL) -> Bool {
            var isDirectory: ObjCBool = false
            return fm.fileExists(atPath: url.path, isDirectory: &isDirectory) && !isDirectory.boolValue && fm.isExecutableFile(atPath: url.path)
        }
        // The products directory of the running tests: .build*/<triple>/debug (or a link to it).
        var productDirectories: [URL] = []
        var starts = [Bundle.main.bundleURL] + Bundle.allBundles.map(\.bundleURL)
        if let exe = try? fm.destinationOfSymbolicLink(atPath: "/proc/self/exe") { starts.append(URL(fileURLWithPath: exe)) }
        for start in starts {
            var directory = start.standardizedFileURL
            for _ in 0..<4 {
                if ["debug", "release"].contains(directory.lastPathComponent) { productDirectories.append(directory) }
                directory = directory.deletingLastPathComponent()
            }
        }
        let beside = productDirectories.map { $0.deletingLastPathComponent() }
        let root = packageRoot
        let builds = ((try? fm.contentsOfDirectory(atPath: root.path)) ?? []).filter { $0.hasPrefix(".build") }
        func newest(_ configuration: String) -> URL? {
            builds.map { root.appendingPathComponent("\($0)/\(configuration)/\(name)") }.filter(executable)
                .max { modified($0) < modified($1) }
        }
        // The build these tests belong to first (optimised, else debug: slow but current),
        // then other scratch folders, whose builds may be older.
        let candidates: [URL?] = beside.map { $0.appendingPathComponent("release/\(name)") }
            + beside.map { $0.appendingPathComponent("debug/\(name)") } + [newest("release"), newest("debug")]
        if let found = candidates.compactMap({ $0 }).first(where: executable) { return found.path }
        throw Missing(description: "\(name) was not found (set \(variable), or run `\(build)` first)")
    }

    private static func modified(_ url: URL) -> Date {
        ((try? FileManager.default.attributesOfItem(atPath: url.path))?[.modificationDate] as? Date) ?? .distantPast
    }
}

/// The demo model (64×64 frames, random weights), written once per test process by
/// `dynamicrafter demo-model`, and test images made by GStreamer's own tools.
enum Fixtures {
    private static let models = Result<String, any Error>(catching: {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("daemon-tests-models-\(getpid())").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let result = try Command(try Executables.cli(), ["demo-model", root + "/demo", "--size", "64"]).run()
        guard result.status == 0 else {
            throw Executables.Missing(description: "dynamicrafter demo-model failed (\(result.status)): \(result.stderr)")
        }
        return root
    })

    /// A folder holding one model, `demo`.
    static func modelsDirectory() throws -> String { try models.get() }

    private static let largerModels = Result<String, any Error>(catching: {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("daemon-tests-models-128-\(getpid())").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let result = try Command(try Executables.cli(), ["demo-model", root + "/demo", "--size", "128"]).run()
        guard result.status == 0 else {
            throw Executables.Missing(description: "dynamicrafter demo-model failed (\(result.status)): \(result.stderr)")
        }
        return root
    })

    /// The demo model at 128×128: steps long enough to tell a block from a step apart.
    static func largerModelsDirectory() throws -> String { try largerModels.get() }

    private static let imageLock = NSLock()
    nonisolated(unsafe) private static var images: [String: String] = [:]

    /// A PNG of GStreamer's test pattern, written with gst-launch-1.0 (cached per size).
    static func png(width: Int, height: Int) throws -> String {
        imageLock.lock()
        defer { imageLock.unlock() }
        let key = "\(width)x\(height)"
        if let path = images[key] { return path }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("daemon-tests-\(getpid())-\(key).png").path
        let result = try Command("/usr/bin/gst-launch-1.0", [
            "-q", "videotestsrc", "num-buffers=1", "!", "video/x-raw,width=\(width),height=\(height)", "!", "pngenc", "!",
            "filesink", "location=\(path)",
        ]).run()
        guard result.status == 0, FileManager.default.fileExists(atPath: path) else {
            throw Executables.Missing(description: "gst-launch-1.0 could not write a PNG: \(result.stderr)")
        }
        images[key] = path
        return path
    }
}
