import DBusKit
import Foundation
import TensorCore

/// Every setting the daemon runs with, resolved from the command line, the configuration file
/// and the defaults (in that order of precedence).
struct DaemonSettings {
    enum BusChoice: Equatable, CustomStringConvertible {
        case session, system, address(String)
        /// Started by D-Bus activation: the bus in DBUS_STARTER_ADDRESS.
        case starter(address: String, isSystem: Bool)

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

        var isSystem: Bool {
            switch self {
            case .system: true
            case .starter(_, let isSystem): isSystem
            default: false
            }
        }

        var isSession: Bool {
            switch self {
            case .session: true
            case .starter(_, let isSystem): !isSystem
            default: false
            }
        }

        var connection: DBusConnection.Bus {
            switch self {
            case .session: .session
            case .system: .system
            case .address(let address), .starter(let address, _): .address(address)
            }
        }

        var description: String {
            switch self {
            case .session: "the session bus"
            case .system: "the system bus"
            case .address(let address): address
            case .starter(let address, let isSystem): "\(isSystem ? "the system bus" : "the session bus") (\(address), activated)"
            }
        }
    }

    var bus: BusChoice
    var modelsDirectory: String
    var defaultModel: String?
    var queueLength: Int
    /// Seconds without work before the daemon exits; 0 = never.
    var idleExit: Double
    var threads: Int?
    var backend: BackendKind?
    var precision: Precision
    var jobRetention: Double
    var preload: Bool
    /// How long a graceful shutdown waits for the running job to stop.
    var shutdownGrace: Double
    var introspectionXML: String?
    var configFile: String?

    static let systemModelsDirectory = "/var/lib/dynamicrafter/models"
    static let defaultSessionIdleExit = 600.0
    static let defaultShutdownGrace = 10.0

    struct Invalid: Error, CustomStringConvertible {
        let description: String
    }

    static func resolve(_ options: Daemon, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> DaemonSettings {
        // The bus decides the defaults, so it is settled first (command line, file, activation).
        let explicitConfig = options.config
        var file: ConfigFile?
        if let explicitConfig { file = try ConfigFile.load(path: explicitConfig) }

        let busText = options.bus ?? file?["bus"]
        var bus: BusChoice
        if let busText {
            guard let parsed = BusChoice(argument: busText) else {
                throw Invalid(description: "bus '\(busText)' is neither session, system nor a D-Bus address such as unix:path=/run/bus")
            }
            bus = parsed
        } else if let starter = environment["DBUS_STARTER_ADDRESS"], !starter.isEmpty {
            bus = .starter(address: starter, isSystem: environment["DBUS_STARTER_BUS_TYPE"] == "system")
        } else {
            bus = .session
        }
        if explicitConfig == nil {
            let implicit = bus.isSystem ? "/etc/dynamicrafter/dynamicrafterd.conf" : userConfigPath(environment)
            if FileManager.default.fileExists(atPath: implicit) {
                file = try ConfigFile.load(path: implicit)
                if options.bus == nil, let text = file?["bus"] {
                    guard let parsed = BusChoice(argument: text) else { throw Invalid(description: "\(implicit): bus '\(text)' is not a bus") }
                    bus = parsed
                }
            }
        }

        let modelsDirectory = options.modelsDir ?? file?["models-dir"]
            ?? (bus.isSystem ? systemModelsDirectory : userModelsDirectory(environment))
        let queueLength = try options.queueLength ?? file?.integer("queue-length") ?? 8
        let idleExit = try options.idleExit ?? file?.number("idle-exit") ?? (bus.isSession ? defaultSessionIdleExit : 0)
        let threads = try options.threads ?? file?.integer("threads")
        let backendText = options.backend ?? file?["backend"]
        let precisionText = options.precision ?? file?["precision"] ?? Precision.f32.rawValue
        guard let precision = Precision(rawValue: precisionText) else {
            throw Invalid(description: "precision must be f32 or bf16, got '\(precisionText)'")
        }
        let jobRetention = try options.jobRetention ?? file?.number("job-retention") ?? 60
        let preload = try options.preload ? true : (file?.boolean("preload") ?? false)
        let grace = try options.shutdownGrace ?? file?.number("shutdown-grace") ?? defaultShutdownGrace
        let model = options.model ?? file?["model"]

        guard (1...1000).contains(queueLength) else { throw Invalid(description: "queue-length must be 1…1000, got \(queueLength)") }
        guard idleExit >= 0, idleExit <= 1e9 else { throw Invalid(description: "idle-exit must be 0 (never) or a number of seconds, got \(idleExit)") }
        if let threads, !(1...1024).contains(threads) { throw Invalid(description: "threads must be 1…1024, got \(threads)") }
        guard (0...86400).contains(jobRetention) else { throw Invalid(description: "job-retention must be 0…86400 seconds, got \(jobRetention)") }
        guard (0...3600).contains(grace) else { throw Invalid(description: "shutdown-grace must be 0…3600 seconds, got \(grace)") }
        var backend: BackendKind?
        if let backendText {
            guard let kind = BackendKind(rawValue: backendText), kind != .reference else {
                throw Invalid(description: "backend must be onednn or openblas, got '\(backendText)'")
            }
            backend = kind
        }
        return DaemonSettings(
            bus: bus, modelsDirectory: modelsDirectory, defaultModel: model.flatMap { $0.isEmpty ? nil : $0 },
            queueLength: queueLength, idleExit: idleExit, threads: threads, backend: backend, precision: precision,
            jobRetention: jobRetention,
            preload: preload, shutdownGrace: grace, introspectionXML: options.introspectionXml, configFile: file?.path)
    }

    static func userModelsDirectory(_ environment: [String: String]) -> String {
        let base = environment["XDG_DATA_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? (environment["HOME"] ?? NSHomeDirectory()) + "/.local/share"
        return base + "/dynamicrafter/models"
    }

    static func userConfigPath(_ environment: [String: String]) -> String {
        let base = environment["XDG_CONFIG_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? (environment["HOME"] ?? NSHomeDirectory()) + "/.config"
        return base + "/dynamicrafter/dynamicrafterd.conf"
    }
}
