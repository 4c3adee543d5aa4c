/// The block configurations from the model configuration file's own sections.
extension CLIPTextEncoder.Configuration {
    /// From open_clip's `text_cfg`.
    public init(_ text: OpenCLIPModelConfig.Text) {
        self.init(width: text.width, heads: text.heads, layers: text.layers, mlpWidth: text.mlpWidth,
                  contextLength: text.contextLength, vocabSize: text.vocabSize)
    }
}

extension CLIPVisionEncoder.Configuration {
    /// From open_clip's `vision_cfg` (heads = width / head_width).
    public init(_ vision: OpenCLIPModelConfig.Vision) {
        self.init(width: vision.width, heads: vision.heads, layers: vision.layers, mlpWidth: vision.mlpWidth,
                  patchSize: vision.patchSize, imageSize: vision.imageSize)
    }
}

extension Resampler.Configuration {
    /// From `image_proj_stage_config.params`; without `video_length` the latents are
    /// `num_queries` (one frame's worth).
    public init(_ params: ResamplerParams) {
        self.init(dim: params.dim, depth: params.depth, dimHead: params.dimHead, heads: params.heads,
                  numQueries: params.numQueries, embeddingDim: params.embeddingDim, outputDim: params.outputDim,
                  ffMult: params.ffMult, videoLength: params.videoLength ?? 1)
    }
}
