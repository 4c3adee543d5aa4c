import AnimationService
import ArgumentParser
import DBusKit
import Foundation
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// `dynamicrafterd`: the resident D-Bus service that animates images with the model kept in
/// memory between jobs.
@main
struct Daemon: AsyncParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "dynamicrafterd",
        abstract: "The DynamiCrafter D-Bus service: keeps models resident and runs animation jobs.",
        discussion: """
            Serves org.dynamicrafter.Animator1 (see dbus/org.dynamicrafter.Animator1.xml). Usually \
            started by D-Bus activation or systemd; without --bus it serves the bus that activated \
            it, else the session bus.

            Settings also come from a configuration file of `key = value` lines whose keys are the \
            long options below without dashes: --config FILE, else /etc/dynamicrafter/dynamicrafterd.conf \
            on the system bus or $XDG_CONFIG_HOME/dynamicrafter/dynamicrafterd.conf on the session bus, \
            when present. The command line wins.

            Memory: before a model loads and when a job is submitted, what it needs (weights at \
            --precision plus the job's working memory) is compared with MemAvailable and the \
            cgroup's memory.max/memory.high (systemd's MemoryMax=); what would not fit is refused \
            with InsufficientMemory and the daemon goes on serving. DYNAMICRAFTER_MEMORY_BUDGET \
            (bytes, or with K/M/G/T) replaces the measured figure.

            SIGTERM or SIGINT stops it gracefully: new calls are refused, queued jobs fail with \
            ShuttingDown, the running job is stopped (within one network block), and the process \
            exits within --shutdown-grace seconds (10 by default) plus a moment to send the last signals.
            """,
        version: version
    )

    @Option(help: "Bus to serve: session, system, or a D-Bus address such as unix:path=/run/x (default: the activating bus, else session).")
    var bus: String?

    @Option(help: "Folder holding the models (default: $XDG_DATA_HOME/dynamicrafter/models; /var/lib/dynamicrafter/models on the system bus).")
    var modelsDir: String?

    @Option(help: "Model to use when a request names none (default: the only one installed).")
    var model: String?

    @Option(help: "Jobs that may wait in the queue besides the running one (default 8).")
    var queueLength: Int?

    @Option(help: "Exit after this many seconds without jobs; 0 = never (default: 600 on the session bus, else 0).")
    var idleExit: Double?

    @Option(help: "Compute threads (default: all available CPUs).")
    var threads: Int?

    @Option(help: "Compute backend: onednn or openblas (default: onednn when available).")
    var backend: String?

    @Option(help: "Precision models are loaded at: f32 (default; exact to the reference) or bf16 (weights resident as bf16, half the memory).")
    var precision: String?

    @Option(help: "Seconds a finished job stays on the bus before it is removed (default 60).")
    var jobRetention: Double?

    @Flag(help: "Load the default model at start instead of on the first job.")
    var preload = false

    @Option(help: "Seconds a graceful shutdown waits for the running job to stop (default 10).")
    var shutdownGrace: Double?

    @Option(help: "Configuration file (key = value lines, keys as the long options).")
    var config: String?

    @Option(help: "Serve the interface described by this introspection XML file instead of the built-in one (development).")
    var introspectionXml: String?

    func validate() throws {
        if let bus, DaemonSettings.BusChoice(argument: bus) == nil {
            throw ValidationError("--bus must be session, system or a D-Bus address such as unix:path=/run/x, not '\(bus)'")
        }
    }

    /// The entry point: prepares the signals on the main thread before anything else runs (an
    /// async `run` already executes on a thread of the concurrency pool; see ShutdownSignals),
    /// then parses and runs as usual.
    static func main() async {
        ShutdownSignals.prepare()
        do {
            var command = try parseAsRoot()
            if var asynchronous = command as? any AsyncParsableCommand {
                try await asynchronous.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }

    func run() async throws {
        LoggingSystem.bootstrap { JournalLogHandler(label: $0) }
        let logger = Logger(label: "dynamicrafterd")
        let settings: DaemonSettings
        do {
            settings = try DaemonSettings.resolve(self)
        } catch {
            logger.error("\(error)")
            throw ExitCode(78) // EX_CONFIG
        }
        let status: Int32
        do {
            status = try await DaemonProcess.run(settings, version: Self.version, logger: logger)
        } catch {
            logger.error("\(error)")
            throw ExitCode(69) // EX_UNAVAILABLE
        }
        // _exit, not exit: a worker thread stuck in a model call must not race atexit handlers.
        _exit(status)
    }
}
