import ArgumentParser
import Foundation
import TensorCore

/// `dynamicrafterd`: the resident D-Bus service. This first version parses and validates its
/// options and says plainly that the service itself is not there yet (its own issue adds it).
@main
struct Daemon: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dynamicrafterd",
        abstract: "The DynamiCrafter D-Bus service: keeps models resident and runs animation jobs.",
        version: "0.1.0"
    )

    enum Bus: ExpressibleByArgument, Equatable {
        case session, system, address(String)

        init?(argument: String) {
            switch argument {
            case "session": self = .session
            case "system": self = .system
            default:
                // A D-Bus address is "transport:key=value,…" (unix:path=…, tcp:host=…).
                guard let colon = argument.firstIndex(of: ":"), colon != argument.startIndex,
                      argument[argument.index(after: colon)...].contains("=") else { return nil }
                self = .address(argument)
            }
        }
    }

    @Option(help: "Bus to serve on: session, system, or a D-Bus address such as unix:path=/run/x.")
    var bus: Bus = .session

    @Option(help: "Folder holding the models (default: $XDG_DATA_HOME/dynamicrafter/models).")
    var modelsDir: String?

    @Option(help: "Model to use when a request names none.")
    var model: String?

    @Option(help: "Compute threads (default: all available CPUs).")
    var threads: Int?

    func validate() throws {
        if let threads, threads < 1 || threads > 1024 {
            throw ValidationError("--threads must be between 1 and 1024, got \(threads)")
        }
    }

    func run() throws {
        let dir = modelsDir ?? Self.defaultModelsDirectory()
        FileHandle.standardError.write(Data("""
            dynamicrafterd: bus \(bus), models in \(dir), \(threads ?? Threading.availableCPUs) threads
            dynamicrafterd: the D-Bus service is not implemented yet; nothing to serve.

            """.utf8))
        throw ExitCode(69) // EX_UNAVAILABLE
    }

    static func defaultModelsDirectory() -> String {
        let env = ProcessInfo.processInfo.environment
        let base = env["XDG_DATA_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? (env["HOME"] ?? "/root") + "/.local/share"
        return base + "/dynamicrafter/models"
    }
}
