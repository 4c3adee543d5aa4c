/// Beside the presets, not in the pipeline: the model store reads a configuration file beside
/// the weights and needs its defaults without depending on the pipeline.
extension SamplingDefaults {
    /// The reference's defaults for a configuration that is not one of the presets: the values of
    /// the published model of the same kind (v-prediction models sample like 512/1024).
    public static func inferred(from config: ModelConfig) -> SamplingDefaults {
        let p = config.params
        let isV = p.parameterization == "v"
        let unet = p.unetConfig.params
        return SamplingDefaults(ddimSteps: 50, ddimEta: 1.0, guidanceScale: 7.5,
                                frames: p.imageProjStageConfig.params.videoLength ?? unet.temporalLength ?? 16,
                                frameStride: unet.defaultFs ?? 3,
                                timestepSpacing: isV ? .uniformTrailing : .uniform,
                                guidanceRescale: isV ? 0.7 : 0, perFrameVAE: p.perframeAe,
                                mode: .imageToVideo, outputFPS: 8, seed: 123)
    }
}
