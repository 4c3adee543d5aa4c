import TensorCore
import TensorStorage

/// The five networks of a DynamiCrafter checkpoint, built from one source at the checkpoint's
/// root: which network lives under which key prefix, and from which section of the
/// configuration. Loading builds them from the file; `ParameterManifest` builds them from a
/// `ParameterRecorder`, so the two cannot disagree about the checkpoint.
public struct ModelNetworks: Sendable {
    public let textEncoder: CLIPTextEncoder
    public let visionEncoder: CLIPVisionEncoder
    public let resampler: Resampler
    public let vae: VAE
    public let unet: UNet

    public init(parameters root: ParameterSource, config: ModelConfig, context: ComputeContext) throws {
        let p = config.params
        // The OpenCLIP towers (a third of the checkpoint) run once per job: their Linear layers
        // read the mapped file when they run instead of holding packed copies between jobs.
        let encoders = context.with(residency: .streamed)
        let text = try config.textEncoderArchitecture()
        textEncoder = try CLIPTextEncoder(parameters: root.scoped("cond_stage_model").scoped("model"),
                                          configuration: CLIPTextEncoder.Configuration(text.textCfg), context: encoders)
        let vision = try config.imageEncoderArchitecture()
        visionEncoder = try CLIPVisionEncoder(parameters: root.scoped("embedder").scoped("model").scoped("visual"),
                                              configuration: CLIPVisionEncoder.Configuration(vision.visionCfg), context: encoders)
        resampler = try Resampler(parameters: root.scoped("image_proj_model"),
                                  configuration: Resampler.Configuration(p.imageProjStageConfig.params), context: context)
        vae = try VAE(parameters: root.scoped("first_stage_model"), config: p.firstStageConfig.params,
                      scaleFactor: p.scaleFactor, context: context)
        unet = try UNet(parameters: root.scoped("model").scoped("diffusion_model"), config: p.unetConfig.params, context: context)
    }
}
