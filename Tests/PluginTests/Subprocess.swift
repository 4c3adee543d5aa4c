import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Runs a command to completion on a thread of its own (never on the Swift concurrency pool,
/// which has only as many threads as cores), with both outputs drained concurrently so a
/// chatty tool cannot stall on a full pipe, and a deadline after which it is killed.
struct Subprocess: Sendable {
    struct Result: Sendable, CustomStringConvertible {
        let status: Int32
        let output: String
        let errors: String
        let timedOut: Bool
        let seconds: Double

        var description: String {
            "exit \(status)\(timedOut ? " (killed after timeout)" : "") in \(String(format: "%.2f", seconds)) s\n"
                + "--- stdout ---\n\(output.suffix(4000))\n--- stderr ---\n\(errors.suffix(4000))"
        }
    }

    struct LaunchFailure: Error, CustomStringConvertible {
        let description: String
    }

    let executable: String
    let arguments: [String]
    var environment: [String: String] = ProcessInfo.processInfo.environment
    var currentDirectory: String?
    var timeout: Double = 120

    func run() async throws -> Result {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                do {
                    continuation.resume(returning: try runBlocking())
                } catch {
                    continuation.resume(throwing: error)
                }
            }
            thread.start()
        }
    }

    private func runBlocking() throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = environment
        if let currentDirectory {
            process.currentDirectoryURL = URL(fileURLWithPath: currentDirectory)
        }
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        process.standardInput = FileHandle.nullDevice
        let started = Date()
        do {
            try process.run()
        } catch {
            throw LaunchFailure(description: "cannot run \(executable): \(error)")
        }
        let errorText = Collected()
        let reader = Thread { errorText.set(errors.fileHandleForReading.readDataToEndOfFile()) }
        reader.start()
        let killed = Collected()
        let pid = process.processIdentifier
        let watchdog = DispatchWorkItem {
            killed.set(Data([1]))
            kill(pid, SIGKILL)
        }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: watchdog)
        let out = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        watchdog.cancel()
        let errorData = errorText.wait()
        return Result(
            status: process.terminationStatus,
            output: String(decoding: out, as: UTF8.self),
            errors: String(decoding: errorData, as: UTF8.self),
            timedOut: killed.isSet,
            seconds: Date().timeIntervalSince(started))
    }

    /// Data handed from one thread to another.
    private final class Collected: @unchecked Sendable {
        private let condition = NSCondition()
        private var data: Data?

        func set(_ value: Data) {
            condition.lock()
            data = value
            condition.broadcast()
            condition.unlock()
        }

        var isSet: Bool {
            condition.lock()
            defer { condition.unlock() }
            return data != nil
        }

        func wait() -> Data {
            condition.lock()
            defer { condition.unlock() }
            while data == nil { condition.wait() }
            return data ?? Data()
        }
    }
}
