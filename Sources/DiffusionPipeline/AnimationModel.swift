import Foundation
import CLIPTokenizer
import DynamiCrafterModel
import TensorCore
import TensorStorage
import Weights

/// A whole DynamiCrafter model, loaded: the five networks of the checkpoint, the tokenizer and
/// the noise schedule, built from one configuration.
///
/// Immutable and `Sendable`: one loaded model serves any number of runs (each run keeps its own
/// state in `AnimationPipeline`), and the weights are never copied per run.
public struct AnimationModel: Sendable {
    public let config: ModelConfig
    public let context: ComputeContext
    public let tokenizer: CLIPTokenizer
    public let textEncoder: CLIPTextEncoder
    public let visionEncoder: CLIPVisionEncoder
    public let resampler: Resampler
    public let vae: VAE
    public let unet: UNet
    public let noiseSchedule: NoiseSchedule
    public let parameterization: Parameterization
    /// How the checkpoint matched the configuration (always clean once loaded).
    public let report: ManifestReport

    /// Checks every key and shape of `archive` against `config`'s manifest — all missing,
    /// unexpected and mis-shaped keys reported at once in a `ManifestMismatchError` — and only
    /// then builds the networks (the 256 checkpoint's `framestride_embed` naming is accepted).
    public init(archive: any WeightArchive, config: ModelConfig, context: ComputeContext,
                tokenizer: CLIPTokenizer? = nil) throws {
        let manifest = try ParameterManifest(config: config)
        report = try manifest.validate(archive)
        let p = config.params
        guard let parameterization = Parameterization(rawValue: p.parameterization) else {
            throw ModelConfigError.unsupported(option: "model.params.parameterization", value: p.parameterization, reason: "only eps and v are supported")
        }
        self.config = config
        self.context = context
        self.parameterization = parameterization
        self.tokenizer = try tokenizer ?? CLIPTokenizer.shared()
        let networks = try ModelNetworks(parameters: ParameterSource(archive: archive), config: config, context: context)
        textEncoder = networks.textEncoder
        visionEncoder = networks.visionEncoder
        resampler = networks.resampler
        vae = networks.vae
        unet = networks.unet
        noiseSchedule = try NoiseSchedule(timesteps: p.timesteps, linearStart: p.linearStart, linearEnd: p.linearEnd,
                                          rescaleZeroTerminalSNR: p.rescaleBetasZeroSnr, parameterization: parameterization)
        // What was read to copy small parameters (norms, biases, embeddings) stays cached by
        // the kernel, not in this process.
        archive.releaseResidentPages()
    }

    /// Opens a `.safetensors` or `.ckpt` file and loads it with `config`.
    ///
    /// Packed weights and packing temporaries of 1 MiB and more are `ActivationMemory` blocks;
    /// the idle ones are unmapped once loading is done. Below that, glibc is told to serve
    /// blocks over 128 KiB with their own mapping while packing, so freed temporaries do not
    /// strand heap between the packed copies (that setting predates the pool and was measured
    /// then, at 11.0 against 9.5 GiB for the 256 model; its effect on what is left below 1 MiB
    /// has not been measured since).
    public static func load(path: String, config: ModelConfig, context: ComputeContext) throws -> AnimationModel {
        try load(archive: WeightFile.open(path), config: config, context: context)
    }

    /// `load(path:…)` for an archive already open (callers that checked it first).
    public static func load(archive: any WeightArchive, config: ModelConfig, context: ComputeContext) throws -> AnimationModel {
        AllocatorTuning.keepLargeBlocks(threshold: 128 << 10)
        defer {
            AllocatorTuning.keepLargeBlocks()
            // Packing's temporaries (bf16 staging, fp32 blocks before narrowing) are not what
            // the step loop will ask for.
            ActivationMemory.releaseIdle()
        }
        return try AnimationModel(archive: archive, config: config, context: context)
    }

    /// `load`, timed: the model, and the line the command-line tool, `check-reference` and the
    /// daemon print: `loaded NAME (PRECISION) in N.N s (X.X GiB resident)`.
    public static func loadReporting(archive: any WeightArchive, name: String, config: ModelConfig,
                                     context: ComputeContext) throws -> (model: AnimationModel, summary: String) {
        try timedLoad(name: name, precision: context.precision) {
            try load(archive: archive, config: config, context: context)
        }
    }

    /// Runs `build` and returns its model with the load line:
    /// `loaded NAME (PRECISION) in N.N s (X resident)`.
    public static func timedLoad(name: String, precision: Precision,
                                 _ build: () throws -> AnimationModel) rethrows -> (model: AnimationModel, summary: String) {
        let start = Date()
        let model = try build()
        let seconds = Date().timeIntervalSince(start)
        let resident = ProcessMemory.residentBytes.map { " (\(humanBytes($0)) resident)" } ?? ""
        return (model, "loaded \(name) (\(precision.rawValue)) in \(String(format: "%.1f", seconds)) s\(resident)")
    }

    /// The frame size the model was trained at (latent size × the VAE's downsampling).
    public var frameSize: (height: Int, width: Int) {
        let latent = latentSize
        let f = vae.configuration.downsampleFactor
        return (latent.height * f, latent.width * f)
    }

    /// `image_size` of the configuration: the latent height and width.
    public var latentSize: (height: Int, width: Int) {
        let s = config.params.imageSize
        return (s[0], s.count > 1 ? s[1] : s[0])
    }

    /// Frames the UNet and Resampler were trained on (16 for the published models): only at this
    /// length does every frame get its own image tokens.
    public var trainedFrameCount: Int { resampler.configuration.videoLength }

    /// Latent channels (the UNet's output width; its input is twice this with the image latent).
    public var latentChannels: Int { config.params.unetConfig.params.outChannels }

    /// Dynamic x₀ rescale base (`base_scale`), nil when the model does not use it.
    public var dynamicRescaleBase: Double? {
        config.params.useDynamicRescale ? config.params.baseScale : nil
    }
}
