import Foundation
import Testing
import TestingSupport

/// A program the packaging tests run (systemd-analyze, dbus-send, install.sh…): found on
/// `PATH` or the sbin folders, run to completion through `Command` (stdout and stderr apart).
struct Tool: Sendable {
    let path: String

    typealias Result = CommandResult

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
        Command.find(name).map { Tool(path: $0) }
    }

    /// The program called `name`; throws `Missing` naming `package` when it is absent.
    static func named(_ name: String, package: String) throws -> Tool {
        guard let tool = find(name) else { throw Missing(name: name, package: package) }
        return tool
    }

    /// Runs the program with `arguments`, the inherited environment plus `environment`, and
    /// waits at most `timeout` (then throws `Timeout`).
    func run(_ arguments: [String], environment: [String: String] = [:], in directory: String? = nil,
             timeout: Duration = .seconds(60)) throws -> Result {
        let result = try Command(path, arguments,
                                 environment: ProcessInfo.processInfo.environment.merging(environment) { _, new in new },
                                 directory: directory, timeout: timeout).run()
        if result.timedOut {
            throw Timeout(description: "\(path) \(arguments.joined(separator: " ")) did not finish within \(timeout)")
        }
        return result
    }
}
