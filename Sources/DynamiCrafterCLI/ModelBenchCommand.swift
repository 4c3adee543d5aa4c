import ArgumentParser
import DiffusionPipeline
import DynamiCrafterModel
import Foundation
import Imaging
import TensorCore
import TensorStorage
import Weights

/// `dynamicrafter bench model`: the whole model at its real sizes, from random weights.
struct ModelBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "Time the whole model (random weights) at its real sizes, with its memory per stage.",
        discussion: """
            Builds every component (UNet, VAE, text and vision towers, Resampler) of a preset or \
            configuration file from deterministic random weights, then times one UNet forward \
            with classifier-free guidance (batch 2), the VAE decode of all frames (batched and \
            frame by frame), CLIP preprocess + vision tower on one image, the Resampler and the \
            text tower on one prompt. FLOPs are counted per backend call (Linear, convolution, \
            attention, matmul: 2 per multiply-add; norms, activations, softmax and elementwise \
            work are not counted). The fp32 GEMM ceiling is measured before and after. Reported \
            memory: RSS after building, and each stage's own peak RSS. Here every component is \
            packed in memory (the random weights are not a mapped file, so the encoders cannot \
            be streamed as `animate` streams them, and all stages hold more than `animate` \
            does). Measured for --stages unet on the 256 model in f32: 5.4 GiB after building, \
            6.8 GiB peak during the forward. A UNet or VAE run takes minutes.
            """
    )

    @Option(help: "Preset to build (\(Preset.names.joined(separator: ", "))).")
    var preset: String = "256"

    @Option(help: "A model configuration file (.json or .yaml) to build instead of the preset.")
    var config: String?

    @Option(help: "Backend for the dense work (onednn, openblas).")
    var backend: BackendKind = .onednn

    @Option(help: "Weight precision: f32 or bf16 (weights resident as bf16).")
    var precision: Precision = .f32

    @Option(parsing: .upToNextOption, help: "Stages to run (\(ModelBenchStage.allCases.map(\.rawValue).joined(separator: ", "))).")
    var stages: [ModelBenchStage] = ModelBenchStage.allCases

    @Option(help: "Timed runs of the UNet and VAE stages (the median is reported).")
    var repeats: Int = 1

    @Option(help: "Runs of the UNet and VAE stages before the timed ones (reported apart).")
    var warmups: Int = 0

    @Option(help: "Timed runs of the encoder stages, after one warm-up.")
    var smallRepeats: Int = 3

    @Option(help: "Timed runs per GEMM-ceiling shape (before and after the model).")
    var ceilingRepeats: Int = 3

    @Option(help: "Threads (default: all CPUs).")
    var threads: Int?

    @Option(help: "Seed of the random weights.")
    var seed: UInt64 = 0

    @Flag(help: "Leave glibc's allocator as it is (by default large blocks are unmapped when freed while the model is built, and kept for reuse afterwards).")
    var defaultAllocator = false

    func validate() throws {
        guard repeats >= 1, repeats <= 100 else { throw ValidationError("--repeats must be 1…100") }
        guard warmups >= 0, warmups <= 10 else { throw ValidationError("--warmups must be 0…10") }
        guard smallRepeats >= 1, smallRepeats <= 100 else { throw ValidationError("--small-repeats must be 1…100") }
        guard ceilingRepeats >= 1, ceilingRepeats <= 100 else { throw ValidationError("--ceiling-repeats must be 1…100") }
        if backend == .reference { throw ValidationError("the reference backend is too slow for the whole model") }
        if config == nil, Preset.named(preset) == nil {
            throw ValidationError("unknown preset '\(preset)' (known: \(Preset.names.joined(separator: ", ")))")
        }
        if stages.isEmpty { throw ValidationError("--stages needs at least one stage") }
    }

    func run() throws {
        let threadCount = threads ?? Threading.availableCPUs
        Threading.configure(threads: threadCount)
        let modelConfig: ModelConfig
        let label: String
        var frameStride: Int? = nil
        if let config {
            modelConfig = try ModelConfig.load(path: config)
            label = config
        } else if let p = Preset.named(preset) {
            modelConfig = p.config
            label = "preset \(p.name)"
            frameStride = p.sampling.frameStride
        } else {
            throw ValidationError("unknown preset '\(preset)'")
        }
        let comparable = config == nil && preset == Preset.p256.name
        let selected = ModelBenchStage.allCases.filter { stages.contains($0) }

        let env = ProcessInfo.processInfo.environment
        let startMemory = ModelBenchMemory.now()
        let loadBefore = Self.loadAverage()
        say("dynamicrafter bench model: \(label), \(backend.rawValue), \(precision.rawValue), \(threadCount) threads, "
            + "OPENBLAS_CORETYPE=\(env["OPENBLAS_CORETYPE"] ?? "(unset)"), OMP_WAIT_POLICY=\(env["OMP_WAIT_POLICY"] ?? "(unset)")")
        say("machine: \(Self.cpuModel()), load average \(loadBefore)")
        let raw = try ComputeBackends.make(backend)
        say("backend: \(raw.summary)")

        // 1. Ceiling before.
        var before = BenchSuite(repeats: ceilingRepeats, threads: threadCount)
        try before.gemmCeiling(raw, precisions: [.f32], singleThread: false)
        say("GEMM ceiling before: " + (before.ceiling.map { fixed($0, 1) + " GFLOP/s" } ?? "-"))

        // 2. Build from random weights, through the counting backend.
        let manifest = try ParameterManifest(config: modelConfig)
        let archive = RandomWeightArchive(manifest: manifest, seed: seed, label: label)
        say("weights: \(grouped(manifest.elementCount())) random fp32 parameters (\(humanBytes(archive.fileSize))), seed \(seed); \(ModelBenchMemory.now().description) before building")
        // While weights are packed, every block above 128 KiB gets its own mapping and goes back to
        // the system when freed. With glibc's default (a threshold that rises to the largest
        // block freed so far, up to 32 MiB) the short-lived source, conversion and plain copies
        // of each weight land in the heap between the packed copies that stay, and the holes
        // they leave added ~16% to the resident size of the 256 model (11.0 GiB instead of 9.5).
        if !defaultAllocator { AllocatorTuning.keepLargeBlocks(threshold: 128 << 10) }
        let counter = FLOPCounter()
        let context = ComputeContext(backend: CountingBackend(wrapping: raw, counter: counter), precision: precision)
        let components = Set(selected.map(\.component))
        let model = try ModelBenchModel.build(config: modelConfig, archive: archive, context: context,
                                              components: components, progress: say)
        ActivationMemory.releaseIdle() // packing temporaries
        let loaded = ModelBenchMemory.now()
        say("built in \(fixed(model.totalSeconds, 1)) s; \(loaded.description)")
        // From here on, large activation blocks stay in the heap for the next tensor of the same
        // size (what `bench` and the executables do: page faults on fresh mappings cost time).
        if !defaultAllocator { AllocatorTuning.keepLargeBlocks() }

        // 3. The stages.
        let inputs = try ModelBenchInputs(config: modelConfig, frameStride: frameStride)
        var results: [ModelBenchResult] = []
        var visionTokens: Tensor? = nil
        for stage in selected {
            let warm = stage.isLarge ? warmups : 1
            let reps = stage.isLarge ? repeats : smallRepeats
            say("running \(stage.rawValue) (\(warm) warm-up, \(reps) timed) …")
            // The stage's own peak: VmHWM restarts from the current RSS here.
            let peakReset = ProcessMemory.resetPeak()
            ActivationMemory.resetPeaks()
            let poolBefore = ActivationMemory.statistics
            var result: ModelBenchResult
            switch stage {
            case .unet:
                guard let unet = model.unet else { throw ModelBenchError("UNet not built") }
                let work = "x \(Shape.describe(inputs.unetX.shape)), context \(Shape.describe(inputs.unetContext.shape)), t 501, fs \(inputs.fs[0])"
                result = try ModelBenchResult.measure(stage, work: work, warmups: warm, repeats: reps, counter: counter) {
                    try unet.callAsFunction(x: inputs.unetX, timesteps: inputs.timesteps, context: inputs.unetContext, fs: inputs.fs)
                }
            case .vae, .vaePerFrame:
                guard let vae = model.vae else { throw ModelBenchError("VAE not built") }
                let perFrame = stage == .vaePerFrame
                let z = inputs.latentFrames.shape
                let work = "z [1,\(z[1]),\(z[0]),\(z[2]),\(z[3])] " + (perFrame ? "frame by frame" : "as one batch")
                result = try ModelBenchResult.measure(stage, work: work, warmups: warm, repeats: reps, counter: counter) {
                    try vae.decode(scaledLatent: inputs.latentFrames, perFrame: perFrame)
                }
            case .vision:
                guard let vision = model.vision else { throw ModelBenchError("vision tower not built") }
                let work = "image \(Shape.describe(inputs.image.shape)) → preprocess → \(vision.configuration.imageSize)²"
                result = try ModelBenchResult.measure(stage, work: work, warmups: warm, repeats: reps, counter: counter) {
                    let tokens = try vision.encode(ImagePreprocessing.clipPreprocess(inputs.image))
                    visionTokens = tokens // the Resampler's input
                    return tokens
                }
            case .resampler:
                guard let resampler = model.resampler else { throw ModelBenchError("Resampler not built") }
                let c = resampler.configuration
                let tokens = visionTokens ?? ModelBenchInputs.noise([1, 257, c.embeddingDim], seed: 5)
                let work = "tokens \(Shape.describe(tokens.shape))"
                result = try ModelBenchResult.measure(stage, work: work, warmups: warm, repeats: reps, counter: counter) {
                    try resampler.callAsFunction(tokens)
                }
            case .text:
                guard let text = model.text else { throw ModelBenchError("text tower not built") }
                let work = "1 prompt of \(inputs.tokens[0].count) tokens (ids, no tokenizer)"
                result = try ModelBenchResult.measure(stage, work: work, warmups: warm, repeats: reps, counter: counter) {
                    try text.encode(tokens: inputs.tokens)
                }
            }
            if peakReset, let peak = ProcessMemory.peakResidentBytes { result.stagePeak = peak }
            say("  \(stage.rawValue): median \(fixed(result.median, 3)) s, \(fixed(result.gflop, 1)) GFLOP, "
                + "\(fixed(result.gflops, 1)) GFLOP/s, \(result.nonFinite == 0 ? "finite" : "\(result.nonFinite) NaN/Inf"); "
                + result.memoryAfter.description + (result.stagePeak.map { ", stage peak RSS \(humanBytes($0))" } ?? "")
                + "; activations: peak live \(humanBytes(ActivationMemory.statistics.peakLiveBytes)), "
                + "peak held \(humanBytes(ActivationMemory.statistics.peakMappedBytes))")
            // Fresh blocks cost page faults and kernel zeroing on first touch; reuse costs nothing.
            let pool = ActivationMemory.statistics
            say("  \(stage.rawValue): activation blocks mapped afresh \(pool.freshBlocks - poolBefore.freshBlocks) "
                + "(\(humanBytes(pool.freshBytes - poolBefore.freshBytes))), reused \(pool.reusedBlocks - poolBefore.reusedBlocks)")
            results.append(result)
        }

        // 4. Ceiling after.
        var after = BenchSuite(repeats: ceilingRepeats, threads: threadCount)
        try after.gemmCeiling(raw, precisions: [.f32], singleThread: false)
        let loadAfter = Self.loadAverage()

        // 5. Report.
        let report = ModelBenchReport(results: results, ceilingBefore: before.ceiling, ceilingAfter: after.ceiling,
                                      comparable: comparable, threads: threadCount)
        print()
        report.printStages()
        print()
        report.printCeilings()
        print("load average: \(loadBefore) at start, \(loadAfter) at end (\(Threading.availableCPUs) CPUs)")
        print()
        print("Where the time goes (per backend call; 'other' = stage wall time minus backend time):")
        report.printHotSpots()
        print()
        printMemoryAndLoad(model: model, start: startMemory, loaded: loaded, results: results, comparable: comparable)
        print()
        report.printReference()
        print()
        print("Counted: every Linear, convolution, attention and matmul call through the backend (2 FLOP per "
              + "multiply-add, as PyTorch's FlopCounterMode). Not counted: bias adds, norms, activations, softmax, "
              + "elementwise and layout work, and the text tower's causal attention (a plain loop outside the "
              + "backend, \(fixed(Self.causalAttentionGFLOP(modelConfig), 2)) GFLOP if counted like a bmm).")
        if results.contains(where: { $0.nonFinite > 0 }) {
            throw ModelBenchError("some outputs contain NaN or Inf (see the 'finite' column)")
        }
    }

    private func printMemoryAndLoad(model: ModelBenchModel, start: ModelBenchMemory, loaded: ModelBenchMemory,
                                    results: [ModelBenchResult], comparable: Bool) {
        print("Memory and build:")
        print("  at start (before the ceiling): \(start.description)")
        for b in model.builds {
            print("  after \(b.component.rawValue) (\(fixed(b.seconds, 1)) s): \(b.memory.description)")
        }
        print("  built in \(fixed(model.totalSeconds, 1)) s: \(loaded.description)")
        for r in results {
            print("  after \(r.stage.rawValue): \(r.memoryAfter.description)"
                  + (r.stagePeak.map { "; peak during the stage \(humanBytes($0))" } ?? ""))
        }
        let end = ModelBenchMemory.now()
        print("  at the end: \(end.description)")
        if comparable {
            print("  reference: \(fixed(ModelBenchReference.loadedResidentGiB, 1)) GiB after building "
                  + "(\(fixed(ModelBenchReference.buildSeconds, 0)) s), peak \(fixed(ModelBenchReference.peakResidentGiB, 1)) GiB "
                  + "with everything resident after the batched VAE decode")
        }
    }

    /// FLOPs the text tower's causal attention would count as bmm: per run block, scores and
    /// weighted sum over the full `L × L` square.
    static func causalAttentionGFLOP(_ config: ModelConfig) -> Double {
        guard let text = try? config.textEncoderArchitecture().textCfg else { return 0 }
        let l = Double(text.contextLength), w = Double(text.width)
        return Double(max(text.layers - 1, 0)) * 4 * l * l * w / 1e9
    }

    static func loadAverage() -> String {
        guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) else { return "unknown" }
        return text.split(separator: " ").prefix(3).joined(separator: " ")
    }

    static func cpuModel() -> String {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("model name") }),
              let colon = line.firstIndex(of: ":") else { return "unknown CPU" }
        let name = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        let flags = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") }).map(String.init) ?? ""
        let isa = ["avx512f", "avx512_bf16", "avx2", "fma"].filter { flags.contains(" \($0)") }
        return "\(name), \(Threading.availableCPUs) CPUs, \(isa.joined(separator: "+"))"
    }
}

/// Prints a progress line at once (the stages take minutes).
private func say(_ line: String) {
    print(line)
    fflush(nil) // every output stream: naming `stdout` is not concurrency-safe in Swift 6
}
