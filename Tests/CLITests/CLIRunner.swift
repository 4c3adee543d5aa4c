import Foundation
import Testing
import TestingSupport

/// Runs the built `dynamicrafter` executable as a subprocess.
enum CLIRunner {
    typealias Result = CommandResult

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

    /// Runs the CLI with `arguments` (see `Command`: outputs through files, killed after
    /// `timeout`, which fails the test). `environment` edits the inherited environment
    /// (OPENBLAS_CORETYPE and friends stay): a nil value removes the variable.
    static func run(_ arguments: [String], timeout: Duration = .seconds(120),
                    environment edits: [String: String?] = [:],
                    sourceLocation: SourceLocation = #_sourceLocation) throws -> Result {
        let result = try Command(try executable().path, arguments, environment: Command.environment(editing: edits),
                                 timeout: timeout).run()
        if result.timedOut {
            Issue.record("dynamicrafter \(arguments.joined(separator: " ")) did not finish within \(timeout)",
                         sourceLocation: sourceLocation)
        }
        return result
    }

    /// A fresh directory removed when `body` returns.
    static func withTemporaryDirectory<R>(_ body: (String) throws -> R) throws -> R {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("cli-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: url) }
        return try body(url.path)
    }
}
