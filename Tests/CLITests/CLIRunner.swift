import Foundation
import Testing

/// Runs the built `dynamicrafter` executable as a subprocess.
enum CLIRunner {
    struct Result {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    struct Missing: Error, CustomStringConvertible {
        let description: String
    }

    /// The package root, from this file's location.
    static var packageRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// The fixtures the Weights tests ship (this target has no resources of its own).
    static func fixture(_ name: String) -> String {
        packageRoot.appendingPathComponent("Tests/WeightsTests/Fixtures/\(name)").path
    }

    /// Finds the executable: `DYNAMICRAFTER_BIN`, else next to the running test bundle (the
    /// products directory of whatever scratch path is in use), else the newest
    /// `.build*/debug/dynamicrafter` under the package root.
    static func executable() throws -> URL {
        let fm = FileManager.default
        if let explicit = ProcessInfo.processInfo.environment["DYNAMICRAFTER_BIN"] {
            return URL(fileURLWithPath: explicit)
        }
        var starts: [URL] = [Bundle.main.bundleURL, Bundle.main.executableURL ?? Bundle.main.bundleURL]
        if let exe = try? fm.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            starts.append(URL(fileURLWithPath: exe))
        }
        if let arg0 = CommandLine.arguments.first {
            starts.append(URL(fileURLWithPath: arg0))
        }
        starts += Bundle.allBundles.map(\.bundleURL)
        for start in starts {
            var dir = start.standardizedFileURL
            for _ in 0 ..< 5 {
                let candidate = dir.appendingPathComponent("dynamicrafter")
                var isDirectory: ObjCBool = false
                if fm.fileExists(atPath: candidate.path, isDirectory: &isDirectory), !isDirectory.boolValue,
                   fm.isExecutableFile(atPath: candidate.path) {
                    return candidate
                }
                dir = dir.deletingLastPathComponent()
            }
        }
        let root = packageRoot
        let builds = (try? fm.contentsOfDirectory(atPath: root.path))?.filter { $0.hasPrefix(".build") } ?? []
        let found = builds.map { root.appendingPathComponent("\($0)/debug/dynamicrafter") }
            .filter { fm.isExecutableFile(atPath: $0.path) }
            .max { modified($0) < modified($1) }
        if let found { return found }
        throw Missing(description: "the dynamicrafter executable was not found next to the test bundle or in \(root.path)/.build*/debug; run `swift build` before `swift test` (or set DYNAMICRAFTER_BIN)")
    }

    private static func modified(_ url: URL) -> Date {
        ((try? FileManager.default.attributesOfItem(atPath: url.path))?[.modificationDate] as? Date) ?? .distantPast
    }

    /// Runs the CLI with `arguments`; output goes through files so that large outputs cannot
    /// block the child, and a hang fails the test after `timeout`.
    /// `environment` edits the inherited environment (OPENBLAS_CORETYPE and friends stay): a
    /// nil value removes the variable.
    static func run(_ arguments: [String], timeout: Duration = .seconds(120),
                    environment edits: [String: String?] = [:]) throws -> Result {
        let process = Process()
        process.executableURL = try executable()
        process.arguments = arguments
        if !edits.isEmpty {
            var environment = ProcessInfo.processInfo.environment
            for (key, value) in edits { environment[key] = value }
            process.environment = environment
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cli-run-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let outURL = dir.appendingPathComponent("stdout")
        let errURL = dir.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        let out = try FileHandle(forWritingTo: outURL)
        let err = try FileHandle(forWritingTo: errURL)
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while process.isRunning {
            if clock.now > deadline {
                process.terminate()
                process.waitUntilExit()
                Issue.record("dynamicrafter \(arguments.joined(separator: " ")) did not finish within \(timeout)")
                break
            }
            Thread.sleep(forTimeInterval: 0.01)
        }
        process.waitUntilExit()
        try out.close()
        try err.close()
        return Result(status: process.terminationStatus,
                      stdout: String(decoding: try Data(contentsOf: outURL), as: UTF8.self),
                      stderr: String(decoding: try Data(contentsOf: errURL), as: UTF8.self))
    }

    /// A fresh directory removed when `body` returns.
    static func withTemporaryDirectory<R>(_ body: (String) throws -> R) throws -> R {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("cli-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: url) }
        return try body(url.path)
    }
}
