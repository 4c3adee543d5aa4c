import ArgumentParser
import DynamiCrafterModel
import Foundation
import ModelStore
import Synchronization
import TensorCore
import TensorStorage
import Weights

/// `dynamicrafter models fetch|add|list|remove`: the models directory the daemon reads.
struct ModelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models",
        abstract: "Download, verify, install, list and remove models.",
        discussion: """
            Models live in one folder each under the models directory (default \
            $XDG_DATA_HOME/dynamicrafter/models, else ~/.local/share/dynamicrafter/models), where \
            the daemon looks for them and `animate --model DIR/NAME` loads them.
            """,
        subcommands: [Fetch.self, Add.self, List.self, Remove.self]
    )

    struct StoreOptions: ParsableArguments {
        @Option(name: .customLong("models-dir"), help: "The models directory (default: $XDG_DATA_HOME/dynamicrafter/models).")
        var modelsDirectory: String?

        var store: ModelStore { ModelStore(directory: modelsDirectory ?? ModelStore.defaultDirectory()) }
    }

    enum Conversion: String, ExpressibleByArgument, CaseIterable {
        case none, bf16, f16

        var dtype: DType? {
            switch self {
            case .none: nil
            case .bf16: .bf16
            case .f16: .f16
            }
        }
    }

    struct Fetch: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Download a published checkpoint, verify it and install it.",
            discussion: """
                Downloads https://huggingface.co/<repository>/resolve/main/model.ckpt (~10.4 GB) \
                into the models directory under a hidden name, resuming an interrupted download, \
                checks its SHA-256 against the hash the server publishes and its keys and shapes \
                against the preset, and only then installs it as <models-dir>/<preset>/. \
                HTTPS_PROXY/https_proxy are honoured; --base-url or HF_ENDPOINT select a mirror; \
                a token (HF_TOKEN, else the huggingface-cli token file) is sent to that host only. \
                Once installed, the same command downloads nothing (with --convert, it adds the copy).
                """
        )

        @Argument(help: "The preset: 256, 512, 512-interp or 1024.")
        var preset: String?

        @OptionGroup var options: StoreOptions

        @Option(help: "Hugging Face mirror (default: $HF_ENDPOINT, else https://huggingface.co).")
        var baseURL: String?

        @Option(help: "Download this URL instead of the preset's (needs --name, and --config unless a preset is given).")
        var url: String?

        @Option(help: "The installed model's name (default: the preset).")
        var name: String?

        @Option(help: "Check the keys against this configuration file instead of the preset's (custom models).")
        var config: String?

        @Option(help: "The expected SHA-256, for servers that publish none.")
        var sha256: String?

        @Option(help: "Also write a memory-mappable model.safetensors (loaded in preference): bf16, f16 or none.")
        var convert: Conversion = .none

        func run() throws {
            let store = options.store
            let check: ModelCheck
            let preset = try preset.map(ModelsCommand.preset(named:))
            if let config {
                check = .configFile(config)
            } else if let preset {
                check = .preset(preset)
            } else {
                throw ModelsCommand.fail("name a preset (\(Preset.names.joined(separator: ", "))), or give --url with --config and --name")
            }
            let source: URL
            let base = ModelSource.baseURL(explicit: baseURL)
            do {
                if let url {
                    guard let parsed = URL(string: url), let scheme = parsed.scheme?.lowercased(), scheme == "http" || scheme == "https" else {
                        throw ModelStoreError.invalidArgument("--url \(url): not an http(s) URL")
                    }
                    source = parsed
                } else if let preset {
                    source = try ModelSource.url(preset: preset.name, baseURL: base)
                } else {
                    throw ModelStoreError.invalidArgument("--config needs a preset or --url to download from")
                }
            } catch {
                throw ModelsCommand.fail(error)
            }
            guard let modelName = name ?? preset?.name else {
                throw ModelsCommand.fail("--url needs --name")
            }
            let display = TransferDisplay(label: modelName)
            let model: InstalledModel
            let request = FetchRequest(name: modelName, url: source, check: check, expectedSHA256: sha256,
                                       credentials: ModelSource.credentials(baseURL: base))
            let already = Atomic<Bool>(false)
            do {
                model = try store.fetch(request, stage: { stage in
                    if case .alreadyInstalled = stage { already.store(true, ordering: .relaxed) }
                    display.stage(stage, url: source)
                }, progress: { display.update($0) })
            } catch {
                display.finish()
                throw ModelsCommand.fail(error)
            }
            display.finish()
            let sha = model.record?.sha256 ?? "?"
            if already.load(ordering: .relaxed) {
                print("\(model.name) is already installed: \(model.weightsPath) (\(humanBytes(Int(model.size))), sha256 \(sha), verified)")
            } else {
                print("installed \(model.name): \(model.weightsPath) (\(humanBytes(Int(model.size))), sha256 \(sha), verified)")
            }
            try ModelsCommand.convertIfAsked(convert, model: model, store: store)
            ModelsCommand.printUsage(model, store: store)
        }
    }

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Install a checkpoint downloaded by hand (verified like fetch).",
            discussion: """
                Checks the file's keys and shapes against the preset (or --config), computes its \
                SHA-256, and hard-links it into the models directory (a copy on another filesystem).
                """
        )

        @Argument(help: "The .ckpt or .safetensors file.")
        var file: String

        @Option(help: "The preset it is: 256, 512, 512-interp or 1024.")
        var preset: String?

        @Option(help: "A configuration file for a custom model (e.g. a demo model's config.json).")
        var config: String?

        @Option(help: "The installed model's name (default: the preset; required with --config).")
        var name: String?

        @Option(help: "Also write a memory-mappable model.safetensors: bf16, f16 or none.")
        var convert: Conversion = .none

        @OptionGroup var options: StoreOptions

        func run() throws {
            let check: ModelCheck
            if let config {
                check = .configFile(config)
            } else if let preset {
                check = .preset(try ModelsCommand.preset(named: preset))
            } else {
                throw ModelsCommand.fail("give --preset (\(Preset.names.joined(separator: ", "))) or --config FILE")
            }
            guard let modelName = name ?? (config == nil ? preset : nil) else {
                throw ModelsCommand.fail("--config needs --name")
            }
            if convert != .none, (try? WeightFile.format(of: file)) == .safetensors {
                throw ModelsCommand.fail("\(file) is already a safetensors file; add it without --convert (use `dynamicrafter convert` to change its precision)")
            }
            let store = options.store
            let result: (model: InstalledModel, placement: ModelStore.Placement)
            do {
                result = try store.add(file: file, name: modelName, check: check)
            } catch {
                throw ModelsCommand.fail(error)
            }
            let model = result.model
            print("installed \(model.name) (\(result.placement.rawValue)): \(model.weightsPath) (\(humanBytes(Int(model.size))), sha256 \(model.record?.sha256 ?? "?"), verified)")
            try ModelsCommand.convertIfAsked(convert, model: model, store: store)
            ModelsCommand.printUsage(model, store: store)
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the installed models.")

        @OptionGroup var options: StoreOptions

        func run() {
            let store = options.store
            let models = store.installed()
            guard !models.isEmpty else {
                print("no models installed in \(store.directory); try: dynamicrafter models fetch 256")
                return
            }
            let rows = [["NAME", "PRESET", "SIZE", "DTYPE", "VERIFIED", "PATH"]] + models.map { m in
                [m.name, m.preset ?? "-", humanBytes(Int(m.size)), m.dtype, m.verified ? "yes" : "no", m.weightsPath]
            }
            let widths = (0 ..< 5).map { column in rows.map { $0[column].count }.max() ?? 0 }
            for row in rows {
                print((0 ..< 5).map { pad(row[$0], widths[$0]) }.joined(separator: "  ") + "  " + row[5])
            }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove an installed model (and any partial download of it).")

        @Argument(help: "The model's name (as `models list` shows it).")
        var name: String

        @OptionGroup var options: StoreOptions

        func run() throws {
            do {
                if let removed = try options.store.remove(name: name) {
                    print("removed \(removed.name) (\(removed.path), \(humanBytes(Int(removed.size))))")
                } else {
                    print("removed the partial download of \(name)")
                }
            } catch {
                throw ModelsCommand.fail(error)
            }
        }
    }

    static func preset(named name: String) throws -> Preset {
        guard let preset = Preset.named(name) else {
            throw fail("unknown preset '\(name)' (one of \(Preset.names.joined(separator: ", ")))")
        }
        return preset
    }

    static func fail(_ error: any Error) -> ExitCode {
        writeToStandardError("error: \(error)\n")
        return ExitCode.failure
    }

    static func fail(_ message: String) -> ExitCode {
        writeToStandardError("error: \(message)\n")
        return ExitCode.failure
    }

    /// In the default models folder a model is found by its name; elsewhere by its path.
    static func printUsage(_ model: InstalledModel, store: ModelStore) {
        let reference = store.directory == ModelStore.defaultDirectory() ? model.name : model.path
        print("try: dynamicrafter animate --model \(reference) --image IMAGE --output clip.mp4")
    }

    /// `--convert`: writes `model.safetensors` beside the installed weights and records it.
    /// The model stays installed whatever happens here.
    static func convertIfAsked(_ conversion: Conversion, model: InstalledModel, store: ModelStore) throws {
        guard let target = conversion.dtype else { return }
        if model.record == nil { return }
        writeToStandardError("writing a \(target.rawValue) copy of \(model.name)\n")
        let display = TransferDisplay(label: model.name)
        let started = Date()
        let result: ConversionResult
        do {
            result = try store.convert(name: model.name, to: target) { done, total in
                let elapsed = Date().timeIntervalSince(started)
                display.update(TransferProgress(received: Int64(done), total: Int64(total), resumedFrom: 0, elapsed: elapsed,
                                                finished: done == total))
                return true
            }
        } catch {
            display.finish()
            throw fail("\(model.name) is installed, but the \(target.rawValue) copy was not written: \(error)")
        }
        display.finish()
        let original = model.record?.file ?? "the original"
        if result.alreadyPresent {
            print("\(result.path) (\(target.rawValue), \(humanBytes(Int(result.size)))) is already there; it is loaded in preference to \(original)")
            return
        }
        let saved = result.saving
        let percent = result.originalSize > 0 ? Int((Double(saved) / Double(result.originalSize) * 100).rounded()) : 0
        if saved >= 0 {
            print("wrote \(result.path) (\(target.rawValue), \(humanBytes(Int(result.size)))): \(humanBytes(Int(saved))) (\(percent)%) smaller than \(original); it is loaded in preference, and \(original) may be deleted to free the space")
        } else {
            print("wrote \(result.path) (\(target.rawValue), \(humanBytes(Int(result.size)))): \(humanBytes(Int(-saved))) larger than \(original); it is loaded in preference")
        }
    }
}

/// Download progress on standard error: a redrawn bar on a terminal; otherwise a plain line at
/// each tenth of the file (or every 30 s), so logs stay short and carry no carriage returns.
final class TransferDisplay: @unchecked Sendable {
    private let label: String
    private let isTerminal = isatty(2) == 1
    private let lock = NSLock()
    private var lineOpen = false
    private var lastTenth = -1
    private var lastLine = Date.distantPast

    init(label: String) { self.label = label }

    func stage(_ stage: FetchStage, url: URL) {
        lock.lock()
        defer { lock.unlock() }
        closeLine()
        switch stage {
        case .alreadyInstalled:
            break
        case let .downloading(resumingFrom):
            let resume = resumingFrom > 0 ? " (resuming after \(humanBytes(Int(resumingFrom))))" : ""
            writeToStandardError("downloading \(url.absoluteString)\(resume)\n")
        case let .hashing(size):
            writeToStandardError("verifying the SHA-256 of \(humanBytes(Int(size)))\n")
        case .checkingKeys:
            writeToStandardError("checking the keys and shapes\n")
        case .installing:
            break
        }
    }

    func update(_ p: TransferProgress) {
        lock.lock()
        defer { lock.unlock() }
        var text = "\(humanBytes(Int(p.received)))"
        var tenth = -1
        if let total = p.total, total > 0 {
            let fraction = min(1, Double(p.received) / Double(total))
            tenth = Int(fraction * 10)
            if isTerminal {
                let width = 24
                let filled = Int(fraction * Double(width))
                text = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled) + " " + text
            }
            text += " of \(humanBytes(Int(total))) (\(Int(fraction * 100))%)"
        }
        text += ", \(humanBytes(Int(p.rate)))/s"
        if let remaining = p.remaining { text += ", ETA \(ProgressDisplay.clock(remaining))" }
        if isTerminal {
            writeToStandardError("\r\u{1B}[2K" + text)
            lineOpen = true
        } else if tenth != lastTenth || Date().timeIntervalSince(lastLine) >= 30 || p.finished {
            if p.finished && tenth == lastTenth && tenth == 10 { return }
            writeToStandardError(text + "\n")
            lastTenth = tenth
            lastLine = Date()
        }
    }

    func finish() {
        lock.lock()
        defer { lock.unlock() }
        closeLine()
    }

    /// Called with `lock` held.
    private func closeLine() {
        if lineOpen { writeToStandardError("\n") }
        lineOpen = false
    }
}
