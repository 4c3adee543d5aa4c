import Foundation
import Testing

/// A program the packaging tests run (systemd-analyze, dbus-daemon, install.sh…): found on
/// `PATH` or the sbin folders, run to completion with stdout and stderr captured apart.
struct Tool: Sendable {
    let path: String

    struct Result: Sendable {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    /// A program that is not installed, with the Debian package that provides it.
    struct Missing: Error, CustomStringConvertible {
        let name: String
        let package: String
        var description: String { "\(name) is not installed (Debian package \(package); see scripts/install-deps.sh)" }
    }

    /// A run that did not finish in time.
    struct Timeout: Error, CustomStringConvertible {
        let description: String
    }

    /// The program called `name`, or nil when no executable of that name is found.
    static func find(_ name: String) -> Tool? {
        if name.hasPrefix("/") {
            return FileManager.default.isExecutableFile(atPath: name) ? Tool(path: name) : nil
        }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        // systemd-sysusers and friends live in /usr/bin, but a few tools sit in sbin folders
        // that a non-root PATH may lack.
        let folders = path.split(separator: ":").map(String.init) + ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        for folder in folders where !folder.isEmpty {
            let candidate = folder + "/" + name
            if FileManager.default.isExecutableFile(atPath: candidate) { return Tool(path: candidate) }
        }
        return nil
    }

    /// The program called `name`; throws `Missing` naming `package` when it is absent.
    static func named(_ name: String, package: String) throws -> Tool {
        guard let tool = find(name) else { throw Missing(name: name, package: package) }
        return tool
    }

    /// Runs the program with `arguments`, the inherited environment plus `environment`, and
    /// waits at most `timeout`. Output goes through files so that a chatty child cannot block.
    func run(_ arguments: [String], environment: [String: String] = [:], in directory: String? = nil,
             timeout: Duration = .seconds(60)) throws -> Result {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("packaging-run-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let outURL = scratch.appendingPathComponent("stdout")
        let errURL = scratch.appendingPathComponent("stderr")
        let process = try start(arguments, environment: environment, in: directory, stdout: outURL.path, stderr: errURL.path)
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            if ContinuousClock.now > deadline {
                Tool.stop(process)
                throw Timeout(description: "\(path) \(arguments.joined(separator: " ")) did not finish within \(timeout)")
            }
            Thread.sleep(forTimeInterval: 0.01)
        }
        process.waitUntilExit()
        return Result(status: process.terminationStatus,
                      stdout: String(decoding: try Data(contentsOf: outURL), as: UTF8.self),
                      stderr: String(decoding: try Data(contentsOf: errURL), as: UTF8.self))
    }

    /// Starts the program in the background (a bus daemon), its output going to the files
    /// `stdout` and `stderr`; the caller terminates it.
    func start(_ arguments: [String], environment: [String: String] = [:], in directory: String? = nil,
               stdout: String, stderr: String) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        for file in [stdout, stderr] {
            guard FileManager.default.createFile(atPath: file, contents: nil) else {
                throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: file])
            }
        }
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: stdout))
        let err = try FileHandle(forWritingTo: URL(fileURLWithPath: stderr))
        defer {
            try? out.close()
            try? err.close()
        }
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        // Foundation spawns on the calling thread and the child inherits that thread's signal
        // mask; test threads (Dispatch workers) block nearly every signal, which leaves a
        // dbus-daemon deaf to SIGTERM and to its activated children's SIGCHLD. Spawn with none.
        var none = sigset_t()
        var previous = sigset_t()
        sigemptyset(&none)
        pthread_sigmask(SIG_SETMASK, &none, &previous)
        defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
        try process.run()
        return process
    }

    /// Stops a process from `start`: SIGTERM, then SIGKILL if it is still there after `grace`.
    static func stop(_ process: Process, grace: Duration = .seconds(5)) {
        guard process.isRunning else { return }
        process.terminate()
        let deadline = ContinuousClock.now + grace
        while process.isRunning, ContinuousClock.now < deadline {
            Thread.sleep(forTimeInterval: 0.01)
        }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
        }
        process.waitUntilExit()
    }
}
