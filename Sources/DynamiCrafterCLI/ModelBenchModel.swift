import DynamiCrafterModel
import TensorCore
import Weights

/// The model's components built from one weight archive, with what each took to build.
struct ModelBenchModel {
    var unet: UNet?
    var vae: VAE?
    var text: CLIPTextEncoder?
    var vision: CLIPVisionEncoder?
    var resampler: Resampler?
    /// Seconds and memory after each component, in build order.
    var builds: [(component: ModelBenchComponent, seconds: Double, memory: ModelBenchMemory)] = []

    var totalSeconds: Double { builds.reduce(0) { $0 + $1.seconds } }

    /// Builds `components` from `archive` under the checkpoint's prefixes. Every weight goes
    /// through the blocks' own loaders (shape checks, packing), as with a real checkpoint.
    static func build(config: ModelConfig, archive: any WeightArchive, context: ComputeContext,
                      components: Set<ModelBenchComponent>,
                      progress: (String) -> Void) throws -> ModelBenchModel {
        var model = ModelBenchModel()
        let p = config.params
        for component in ModelBenchComponent.allCases where components.contains(component) {
            let start = BenchMeasure.now()
            switch component {
            case .unet:
                model.unet = try UNet(parameters: ParameterSource(archive: archive, prefix: CheckpointKeys.unet),
                                      config: p.unetConfig.params, context: context)
            case .vae:
                model.vae = try VAE(parameters: ParameterSource(archive: archive, prefix: CheckpointKeys.vae),
                                    config: p.firstStageConfig.params, scaleFactor: p.scaleFactor, context: context)
            case .text:
                let arch = try config.textEncoderArchitecture()
                model.text = try CLIPTextEncoder(
                    parameters: ParameterSource(archive: archive, prefix: CheckpointKeys.textEncoder),
                    configuration: CLIPTextEncoder.Configuration(arch.textCfg), context: context)
            case .vision:
                let arch = try config.imageEncoderArchitecture()
                model.vision = try CLIPVisionEncoder(
                    parameters: ParameterSource(archive: archive, prefix: CheckpointKeys.imageEncoder + "visual."),
                    configuration: CLIPVisionEncoder.Configuration(arch.visionCfg), context: context)
            case .resampler:
                model.resampler = try Resampler(
                    parameters: ParameterSource(archive: archive, prefix: CheckpointKeys.resampler),
                    configuration: Resampler.Configuration(p.imageProjStageConfig.params), context: context)
            }
            let seconds = BenchMeasure.now() - start
            let memory = ModelBenchMemory.now()
            model.builds.append((component, seconds, memory))
            progress("  built \(component.rawValue) in \(fixed(seconds, 1)) s (\(memory.description))")
        }
        return model
    }
}
