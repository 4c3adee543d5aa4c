import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// How a child process ended.
public enum Termination: Sendable, Equatable, CustomStringConvertible {
    /// It exited with this status.
    case exit(Int32)
    /// A signal (this number) ended it.
    case signal(Int32)

    public var description: String {
        switch self {
        case .exit(let status): "exit \(status)"
        case .signal(let number): "killed by signal \(number)"
        }
    }
}

/// A command that failed to start, ran past its deadline (for `checked()`), or exited
/// unsuccessfully (for `checked()`).
public struct CommandFailure: Error, CustomStringConvertible {
    public let description: String
    public init(description: String) { self.description = description }
}

/// What a finished command did: how it ended, its two outputs, whether it was killed at its
/// deadline and how long it ran.
public struct CommandResult: Sendable, CustomStringConvertible {
    public let commandLine: String
    public let termination: Termination
    public let stdoutData: Data
    public let stderrData: Data
    /// The deadline passed and the command was killed (`termination` is then SIGKILL).
    public let timedOut: Bool
    public let seconds: Double

    public var stdout: String { String(decoding: stdoutData, as: UTF8.self) }
    public var stderr: String { String(decoding: stderrData, as: UTF8.self) }

    /// The exit status, or 128 + the signal's number as a shell reports a killed command.
    public var status: Int32 {
        switch termination {
        case .exit(let status): status
        case .signal(let number): 128 + number
        }
    }

    public var succeeded: Bool { termination == .exit(0) && !timedOut }

    /// Itself when it succeeded; otherwise throws with the command line and the end of stderr.
    @discardableResult
    public func checked() throws(CommandFailure) -> CommandResult {
        guard succeeded else { throw CommandFailure(description: "\(commandLine) failed: \(self)") }
        return self
    }

    public var description: String {
        "\(termination)\(timedOut ? " (killed at its deadline)" : "") in \(String(format: "%.2f", seconds)) s\n"
            + "--- stdout ---\n\(stdout.suffix(4000))\n--- stderr ---\n\(stderr.suffix(4000))"
    }
}

/// A program the tests run: its arguments, environment, working folder and deadline.
///
/// The one way tests start processes. Both outputs go to files rather than pipes, so a child
/// that writes a lot can never stall on a full pipe nobody reads, and no reader threads are
/// needed; standard input is /dev/null. Children start with no blocked signals: test threads
/// (Dispatch workers) block nearly all of them and a child inherits its spawning thread's mask,
/// which would leave a bus or a daemon deaf to SIGTERM, SIGINT and its own children's SIGCHLD.
public struct Command: Sendable {
    public var executable: String
    public var arguments: [String]
    /// The child's whole environment (by default this process's).
    public var environment: [String: String]
    public var directory: String?
    /// How long `run` waits before killing the command.
    public var timeout: Duration

    public init(_ executable: String, _ arguments: [String] = [],
                environment: [String: String] = ProcessInfo.processInfo.environment,
                directory: String? = nil, timeout: Duration = .seconds(120)) {
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
        self.directory = directory
        self.timeout = timeout
    }

    /// This process's environment with `edits` applied (a nil value removes the variable).
    public static func environment(editing edits: [String: String?]) -> [String: String] {
        var environment = ProcessInfo.processInfo.environment
        for (key, value) in edits { environment[key] = value }
        return environment
    }

    /// The executable called `name` on PATH, then in the sbin and bin folders a non-root PATH
    /// may lack; nil when there is none. A path is returned as it is when it is executable.
    public static func find(_ name: String) -> String? {
        if name.hasPrefix("/") { return FileManager.default.isExecutableFile(atPath: name) ? name : nil }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let folders = path.split(separator: ":").map(String.init) + ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        return folders.filter { !$0.isEmpty }.map { $0 + "/" + name }
            .first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    var commandLine: String { ([executable] + arguments).joined(separator: " ") }

    /// Runs to completion, blocking the calling thread; kills the command (SIGKILL) when it
    /// outlives `timeout` and reports that in the result.
    public func run() throws(CommandFailure) -> CommandResult {
        try start().wait(timeout: timeout)
    }

    /// `run` on a thread of its own, never on the Swift concurrency pool: that pool has only as
    /// many threads as cores, and a test blocked on a child there would starve the others.
    public func runOnThread() async throws(CommandFailure) -> CommandResult {
        let outcome: Result<CommandResult, CommandFailure> = await withCheckedContinuation { continuation in
            Thread { continuation.resume(returning: Result { () throws(CommandFailure) in try run() }) }.start()
        }
        return try outcome.get()
    }

    /// Starts the command and returns at once (a daemon, a bus, a run to interrupt).
    public func start() throws(CommandFailure) -> RunningCommand {
        try RunningCommand(self)
    }
}

/// A started command. Its outputs can be read while it runs; it is killed, if still running,
/// when released.
public final class RunningCommand: @unchecked Sendable {
    public let command: Command
    private let process = Process()
    private let scratch: String
    private let started = ContinuousClock.now
    private let lock = NSLock()
    private var finished: CommandResult?

    fileprivate init(_ command: Command) throws(CommandFailure) {
        self.command = command
        var template = Array((NSTemporaryDirectory() + "/test-command-XXXXXX").utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw CommandFailure(description: "mkdtemp failed: \(String(cString: strerror(errno)))")
        }
        scratch = String(cString: made)
        do {
            try launch()
        } catch {
            try? FileManager.default.removeItem(atPath: scratch)
            throw CommandFailure(description: "cannot run \(command.commandLine): \(error)")
        }
    }

    private var stdoutPath: String { scratch + "/stdout" }
    private var stderrPath: String { scratch + "/stderr" }

    private func launch() throws {
        process.executableURL = URL(fileURLWithPath: command.executable)
        process.arguments = command.arguments
        process.environment = command.environment
        if let directory = command.directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        for path in [stdoutPath, stderrPath] where !FileManager.default.createFile(atPath: path, contents: nil) {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
        }
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: stdoutPath))
        let err = try FileHandle(forWritingTo: URL(fileURLWithPath: stderrPath))
        // The child holds its own copies once it runs.
        defer {
            try? out.close()
            try? err.close()
        }
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        var none = sigset_t(), previous = sigset_t()
        sigemptyset(&none)
        pthread_sigmask(SIG_SETMASK, &none, &previous)
        defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
        try process.run()
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: scratch)
    }

    public var pid: pid_t { process.processIdentifier }
    public var isRunning: Bool { process.isRunning }

    /// Standard output so far.
    public var stdout: String { (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "" }
    /// Standard error so far.
    public var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    /// Sends `signal` (a no-op once the command has ended).
    public func signal(_ signal: Int32) {
        if process.isRunning { kill(process.processIdentifier, signal) }
    }

    /// Waits for the command to end, killing it (SIGKILL) if it still runs after `timeout`.
    /// Later calls return the same result.
    public func wait(timeout: Duration = .seconds(120)) -> CommandResult {
        lock.lock()
        defer { lock.unlock() }
        if let finished { return finished }
        let deadline = ContinuousClock.now + timeout
        var timedOut = false
        while process.isRunning {
            if ContinuousClock.now > deadline {
                timedOut = true
                kill(process.processIdentifier, SIGKILL)
                break
            }
            usleep(5_000)
        }
        process.waitUntilExit()
        let elapsed = started.duration(to: .now)
        let result = CommandResult(
            commandLine: command.commandLine,
            termination: process.terminationReason == .uncaughtSignal
                ? .signal(process.terminationStatus) : .exit(process.terminationStatus),
            stdoutData: FileManager.default.contents(atPath: stdoutPath) ?? Data(),
            stderrData: FileManager.default.contents(atPath: stderrPath) ?? Data(),
            timedOut: timedOut,
            seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18)
        finished = result
        return result
    }

    /// SIGTERM, then SIGKILL if the command is still there after `grace`; returns its result.
    @discardableResult
    public func stop(grace: Duration = .seconds(5)) -> CommandResult {
        signal(SIGTERM)
        return wait(timeout: grace)
    }
}
