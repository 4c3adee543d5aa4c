import ArgumentParser
import DiffusionPipeline
import DynamiCrafterModel
import Foundation
import MediaIO
import ModelStore
import Synchronization
import TensorCore
import TensorStorage
import Weights

/// `dynamicrafter animate`: one image (two for interpolation) to a video file.
struct AnimateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "animate",
        abstract: "Animate a still image into a short video.",
        discussion: """
            Loads the model (a .ckpt or .safetensors file, or a folder holding one and its \
            config.json, such as `dynamicrafter demo-model` writes), decodes the image(s) with \
            GStreamer, samples a clip with DDIM (or --sampler dpmpp-2m / unipc) and \
            classifier-free guidance, and writes an .mp4, .webm or .gif file, or a folder of PNG \
            frames (a path ending in '/').

            Samplers: ddim is the reference's (eta 1 by default: fresh noise every step). \
            dpmpp-2m (DPM-Solver++ 2M) and unipc (UniPC) are deterministic second-order solvers \
            of the same model: at 20-25 steps they come closer to the converged result than DDIM \
            does at the same count (in this project's convergence test, on the demo model at eta \
            0, 20 dpmpp-2m steps came 3.6× and 20 unipc steps 5.4× closer to a 200-step solution \
            than 20 DDIM steps). Every step costs the same network passes whatever the sampler, \
            so --steps 20-25 with a solver denoises in 40-50% of the default 50 steps' time.

            The published models were trained on 16 frames: only then does every frame get its \
            own image tokens. Any other --frames value runs as the reference runs it (every \
            frame sees all image tokens) and prints a warning.

            Ctrl-C stops the run within one network block and leaves no output file behind; a \
            second Ctrl-C exits at once.
            """
    )

    @Option(help: "Model weights (.ckpt/.safetensors), a folder holding them, or the name of an installed model (`dynamicrafter models list`).")
    var model: String

    @Option(help: "A preset (\(Preset.names.joined(separator: ", "))) or a configuration file (.yaml/.json). Default: a config file beside the weights, else the preset the checkpoint's keys match.")
    var config: String?

    @Option(help: "The input image (PNG, JPEG, WebP, anything GStreamer decodes).")
    var image: String

    @Option(help: "Text prompt.")
    var prompt: String = ""

    @Option(help: "Frames to generate (default: the model's, 16; allowed \(AnimationSettings.frameRange.lowerBound)–\(AnimationSettings.frameRange.upperBound)).")
    var frames: Int?

    @Option(help: "Sampling steps (default 50; 20-25 are the usual counts with dpmpp-2m or unipc).")
    var steps: Int?

    @Option(help: "Sampler: \(SamplerKind.names) (default ddim, the reference's).")
    var sampler: String?

    @Option(name: .customLong("cfg-scale"), help: "Classifier-free guidance scale (default 7.5; 1 disables guidance).")
    var cfgScale: Double?

    @Option(name: .customLong("image-cfg-scale"), help: "Separate image guidance scale (multi-condition guidance; default: off).")
    var imageCfgScale: Double?

    @Option(help: "DDIM eta (default 1.0; 0 is deterministic). Only for --sampler ddim: the solvers draw no noise.")
    var eta: Double?

    @Option(help: "Random seed (default: the reference's, 123); the same seed draws the same noise as PyTorch on CPU.")
    var seed: UInt64?

    @Option(name: .customLong("frame-stride"), help: "Frame-stride conditioning of the 256 model (default 3; larger = more motion).")
    var frameStride: Int?

    @Option(help: "Frames-per-second conditioning of the 512/1024 models (default 24 / 10 / 5 for 512-interp; smaller = more motion).")
    var fps: Int?

    @Option(help: "animate, interpolate (with --end-image) or loop.")
    var mode: AnimationMode?

    @Option(name: .customLong("end-image"), help: "The last frame, for --mode interpolate.")
    var endImage: String?

    @Option(name: .shortAndLong, help: "Output: .mp4, .webm, .gif, or a folder for PNG frames (path ending in '/').")
    var output: String

    @Option(name: .customLong("output-fps"), help: "Frame rate of the written video (default 8, as the reference saves).")
    var outputFPS: Int?

    @Option(name: .customLong("latent-out"), help: "Also write the final latent [1, 4, T, h, w] before decoding, as a .safetensors file with one f32 tensor named 'latent'.")
    var latentOut: String?
    @Option(name: .customLong("cache-interval"), help: "Step caching (DeepCache): every N-th step runs the whole network, the steps between reuse its deep features and run only the shallow blocks. Approximate (the result differs from uncached); 2…10, default off (0 or 1).")
    var cacheInterval: Int?

    @Option(help: "Compute backend: onednn or openblas (default: onednn when available).")
    var backend: BackendKind?

    @Option(help: "Threads (default: all cores).")
    var threads: Int?

    @Option(help: "Weight precision: f32 (default; exact to the reference) or bf16 (half the memory, about 1e-2 relative difference in the frames).")
    var precision: Precision = .f32

    func validate() throws {
        if frameStride != nil && fps != nil { throw ValidationError("--frame-stride and --fps are the same conditioning value: give one") }
        if mode == .interpolate && endImage == nil { throw ValidationError("--mode interpolate needs --end-image") }
        if endImage != nil && mode != .interpolate { throw ValidationError("--end-image is only used with --mode interpolate") }
        if let outputFPS, !(1...120).contains(outputFPS) { throw ValidationError("--output-fps must be 1…120") }
    }

    func run() throws {
        let progress = ProgressDisplay()
        do {
            try animate(progress: progress)
        } catch AnimationError.cancelled {
            progress.finish()
            writeToStandardError("cancelled; nothing was written\n")
            throw ExitCode(130)
        } catch let error as MediaError where error.kind == .cancelled {
            progress.finish()
            writeToStandardError("cancelled; nothing was written\n")
            throw ExitCode(130)
        } catch let error as ExitCode {
            throw error
        } catch {
            // Every problem found after parsing (bad image, model, values) exits 1.
            progress.finish()
            writeToStandardError("error: \(error)\n")
            throw ExitCode.failure
        }
    }

    /// `--model` as given when it names a file or folder; else, when it is the name of a model
    /// in the models folder (`models fetch 256` installs `256`), that model's folder.
    static func modelPath(_ model: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String {
        guard !FileManager.default.fileExists(atPath: model) else { return model }
        let store = ModelStore(directory: ModelStore.defaultDirectory(environment: environment))
        if !model.contains("/"), let installed = store.model(named: model) { return installed.path }
        let names = store.installed().map(\.name)
        let installed = names.isEmpty ? "none is installed there (dynamicrafter models fetch 256)" : "installed: \(names.joined(separator: ", "))"
        throw ModelLocationError("--model \(model): no such file or folder, nor a model of that name in \(store.directory); \(installed)")
    }

    private func animate(progress: ProgressDisplay) throws {
        // Everything that can be refused cheaply is checked before the model loads.
        let format = try VideoFormat.inferred(fromPath: output)
        guard VideoEncoder.isAvailable(format) else {
            throw MediaError(.missingElement, path: output, "the GStreamer elements for \(format.rawValue) are not installed")
        }
        let parent = Self.parentFolder(of: output.hasSuffix("/") ? String(output.dropLast()) : output)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: parent, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw MediaError(.io, path: output, "the folder \(parent) does not exist")
        }
        if let latentOut { try Self.checkLatentPath(latentOut) }
        let start = try ImageDecoder.decode(path: image)
        let end = try endImage.map { try ImageDecoder.decode(path: $0) }

        let location = try ModelLocation.resolve(model: try Self.modelPath(model), config: config,
                                                mode: mode.map(PresetConditioningMode.init))
        var options = AnimationOptions(prompt: prompt)
        options.frames = frames
        options.steps = steps
        options.guidanceScale = cfgScale
        options.imageGuidanceScale = imageCfgScale
        options.eta = eta
        options.seed = seed
        options.frameStride = frameStride ?? fps
        options.mode = mode
        options.sampler = try sampler.map { try SamplerKind(named: $0) }
        options.cacheInterval = cacheInterval
        var settings = try AnimationSettings(options: options, defaults: location.defaults)
        if let outputFPS { settings.outputFPS = outputFPS }
        let conditionedOnFPS = location.config.params.fpsConditionType == "fps"
        if fps != nil && !conditionedOnFPS {
            throw AnimationError.invalidOption(name: "fps", value: "\(fps ?? 0)", allowed: "none: this model is conditioned on frame stride, use --frame-stride")
        }
        if frameStride != nil && conditionedOnFPS {
            throw AnimationError.invalidOption(name: "frame-stride", value: "\(frameStride ?? 0)", allowed: "none: this model is conditioned on frames per second, use --fps")
        }

        // A checkpoint of another model is reported as such (every key and shape, cheaply)
        // before memory is judged by the configuration's estimate.
        let archive = try WeightFile.open(location.weightsPath)
        _ = try ParameterManifest(config: location.config).validate(archive)
        // Refused here, with what would fit, rather than by the OOM killer after minutes.
        let estimate = try MemoryEstimate(config: location.config)
        let batch = settings.guidanceScale == 1 ? 1 : (settings.imageGuidanceScale == nil ? 2 : 3)
        let needed = estimate.totalBytes(precision: precision, frames: settings.frames, batch: batch)
        let budget = MemoryBudget.current()
        try budget.check(needed, what: "\(model) at \(precision.rawValue) with \(settings.frames) frames",
                         suggestion: budget.availableBytes.map {
                             estimate.suggestion(precision: precision, frames: settings.frames, available: $0, batch: batch)
                         })

        Threading.configure(threads: threads)
        let backendInstance = try backend.map { try ComputeBackends.make($0) } ?? ComputeBackends.makeDefault()
        progress.note("loading \(location.weightsPath) (\(location.configSource))")
        let (loaded, summary) = try AnimationModel.loadReporting(
            archive: archive, name: model, config: location.config,
            context: ComputeContext(backend: backendInstance, precision: precision))
        progress.note(summary)
        if settings.frames != loaded.trainedFrameCount {
            writeToStandardError("warning: the model was trained on \(loaded.trainedFrameCount) frames; with \(settings.frames) every frame sees all image tokens (as the reference does), and quality may suffer\n")
        }
        let pipeline = AnimationPipeline(model: loaded)
        let startTensor = try pipeline.prepareImage(start)
        let endTensor = try end.map { try pipeline.prepareImage($0) }

        Interruption.install()
        defer { Interruption.uninstall() }
        var noise = TorchRandom(seed: settings.seed)
        var hooks = AnimationHooks()
        hooks.progress = { progress.update($0) }
        hooks.isCancelled = { Interruption.requested }
        let size = loaded.frameSize
        progress.note("\(settings.mode.rawValue): \(settings.frames) frames of \(size.width)×\(size.height), \(settings.steps) \(settings.sampler.rawValue) steps, cfg \(settings.guidanceScale), seed \(settings.seed), \(backendInstance.kind)")
        if settings.cachesSteps { progress.note("step caching: every \(settings.cacheInterval) steps one full network pass (approximate)") }
        let result = try pipeline.run(image: startTensor, endImage: endTensor, settings: settings, noise: &noise, hooks: hooks)

        progress.stage("writing")
        if let latentOut {
            try SafetensorsWriter.write([(name: "latent", tensor: TensorData(result.latent))],
                                        metadata: ["written_by": "dynamicrafter animate", "sampler": settings.sampler.rawValue,
                                                   "steps": String(settings.steps), "seed": String(settings.seed),
                                                   "cache_interval": String(settings.cacheInterval)],
                                        to: latentOut)
        }
        let frames = result.frames
        try VideoEncoder.write(frames: frames, fps: settings.outputFPS, to: output, format: format,
                               isCancelled: { Interruption.requested })
        progress.finish()
        let total = result.timings.values.reduce(0, +)
        print("wrote \(output): \(frames.count) frames, \(size.width)×\(size.height), \(settings.outputFPS) fps (\(String(format: "%.1f", total)) s)")
    }

    /// `--latent-out` must name a .safetensors file in an existing folder (checked before the run).
    static func checkLatentPath(_ path: String) throws {
        guard path.hasSuffix(".safetensors"), !path.hasSuffix("/") else {
            throw AnimationError.invalidOption(name: "latent-out", value: path, allowed: "a path ending in .safetensors")
        }
        let parent = parentFolder(of: path)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: parent, isDirectory: &isDirectory),
              isDirectory.boolValue else {
            throw AnimationError.invalidOption(name: "latent-out", value: path, allowed: "a file in an existing folder")
        }
    }

    /// The folder a path's last component is in ("." for a bare name). Not NSString's
    /// `deletingLastPathComponent`: swift-corelibs-foundation (Swift 6.3) traps on a bare name
    /// such as "clip.mp4".
    static func parentFolder(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let parent = String(path[..<slash])
        return parent.isEmpty ? "/" : parent
    }
}

extension AnimationMode: ExpressibleByArgument {}

/// Ctrl-C: the first asks the run to stop (polled between network blocks), the second kills.
enum Interruption {
    private static let flag = Atomic<Bool>(false)

    static var requested: Bool { flag.load(ordering: .relaxed) }

    static func install() {
        flag.store(false, ordering: .relaxed)
        signal(SIGINT) { _ in
            Interruption.flag.store(true, ordering: .relaxed)
            signal(SIGINT, SIG_DFL)
            // StaticString: no allocation inside a signal handler.
            let message: StaticString = "\ncancelling (Ctrl-C again to quit at once)...\n"
            message.withUTF8Buffer { _ = write(2, $0.baseAddress, $0.count) }
        }
        signal(SIGTERM) { _ in Interruption.flag.store(true, ordering: .relaxed) }
    }

    static func uninstall() {
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
    }
}
