import Foundation

extension ModelConfig {
    /// Decodes a configuration from JSON, strictly: every unknown key anywhere in the file is
    /// reported at once (`ModelConfigError.unknownOptions`), then `validate()` runs.
    public static func decode(json data: Data) throws -> ModelConfig {
        let collector = UnknownKeyCollector()
        let decoder = JSONDecoder()
        decoder.userInfo[UnknownKeyCollector.userInfoKey] = collector
        let config: ModelConfig
        do {
            config = try decoder.decode(ModelConfig.self, from: data)
        } catch let error as ModelConfigError {
            throw error
        } catch let DecodingError.keyNotFound(key, context) {
            if !collector.all.isEmpty { throw ModelConfigError.unknownOptions(collector.all.sorted()) }
            throw ModelConfigError.invalid(option: configPath(context.codingPath, key.stringValue), reason: "required option is missing")
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
            if !collector.all.isEmpty { throw ModelConfigError.unknownOptions(collector.all.sorted()) }
            throw ModelConfigError.invalid(option: context.codingPath.map(\.stringValue).joined(separator: "."),
                                           reason: context.debugDescription)
        } catch {
            if !collector.all.isEmpty { throw ModelConfigError.unknownOptions(collector.all.sorted()) }
            throw ModelConfigError.malformed(String(describing: error))
        }
        if !collector.all.isEmpty { throw ModelConfigError.unknownOptions(collector.all.sorted()) }
        try config.validate()
        return config
    }

    /// Loads a configuration file: `.yaml`/`.yml` through `decode(yaml:)` (needs Yams),
    /// anything else as JSON.
    public static func load(path: String) throws -> ModelConfig {
        let lower = path.lowercased()
        if lower.hasSuffix(".yaml") || lower.hasSuffix(".yml") {
            let text: String
            do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
                throw ModelConfigError.malformed("cannot read \(path): \(error.localizedDescription)")
            }
            return try decode(yaml: text)
        }
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw ModelConfigError.malformed("cannot read \(path): \(error.localizedDescription)")
        }
        return try decode(json: data)
    }

    /// JSON in the reference's key schema (sorted keys).
    public func encodedJSON() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }

    /// Refuses values that select behaviour this port does not implement, naming the option.
    public func validate() throws {
        let p = params
        let u = p.unetConfig.params
        let a = p.firstStageConfig.params.ddconfig
        let r = p.imageProjStageConfig.params
        func need(_ ok: Bool, _ option: String, _ value: String, _ reason: String) throws {
            if !ok { throw ModelConfigError.unsupported(option: "model.params." + option, value: value, reason: reason) }
        }
        func check(_ ok: Bool, _ option: String, _ reason: String) throws {
            if !ok { throw ModelConfigError.invalid(option: "model.params." + option, reason: reason) }
        }
        try need(model.target == "lvdm.models.ddpm3d.LatentVisualDiffusion", "target", model.target,
                 "only lvdm.models.ddpm3d.LatentVisualDiffusion is supported")
        try need(p.conditioningKey == "hybrid", "conditioning_key", p.conditioningKey, "only 'hybrid' (concat + cross-attention) is supported")
        try need(["eps", "v"].contains(p.parameterization), "parameterization", p.parameterization, "supported: eps, v")
        try need(p.uncondType == "empty_seq", "uncond_type", p.uncondType, "only 'empty_seq' is supported")
        try need(!p.scaleByStd, "scale_by_std", "true", "the scale factor must be given")
        try need(["fs", "fps"].contains(p.fpsConditionType), "fps_condition_type", p.fpsConditionType, "supported: fs, fps")
        try check(p.timesteps > 0 && p.linearStart > 0 && p.linearEnd > p.linearStart, "timesteps/linear_start/linear_end",
                  "need timesteps > 0 and 0 < linear_start < linear_end")
        try check(p.imageSize.count == 2 && p.imageSize.allSatisfy { $0 > 0 }, "image_size", "need [h, w] > 0")
        try check(p.channels == u.outChannels && u.inChannels == 2 * p.channels, "channels",
                  "hybrid conditioning needs in_channels = 2·channels = 2·out_channels")

        try need(p.unetConfig.target == "lvdm.modules.networks.openaimodel3d.UNetModel", "unet_config.target", p.unetConfig.target, "only openaimodel3d.UNetModel")
        try need(!u.useRelativePosition, "unet_config.params.use_relative_position", "true", "relative temporal positions are not implemented")
        try need(!u.useCausalAttention, "unet_config.params.use_causal_attention", "true", "causal temporal attention is not implemented")
        try need(u.temporalSelfattOnly, "unet_config.params.temporal_selfatt_only", "false", "temporal cross-attention is not implemented")
        try need(u.temporalConv, "unet_config.params.temporal_conv", "false", "ResBlocks without temporal convolutions are not implemented")
        try need(u.temporalAttention, "unet_config.params.temporal_attention", "false", "UNets without temporal transformers are not implemented")
        try need(u.additionAttention, "unet_config.params.addition_attention", "false", "UNets without init_attn are not implemented")
        try need(u.imageCrossAttention, "unet_config.params.image_cross_attention", "false", "the image cross-attention branch is required")
        try need(u.fsCondition, "unet_config.params.fs_condition", "false", "the frame-stride/fps embedding is required")
        try need(u.useLinear, "unet_config.params.use_linear", "false", "convolutional transformer projections are not implemented")
        try need(u.convResample, "unet_config.params.conv_resample", "false", "only convolutional up/downsampling")
        try need(!u.resblockUpdown, "unet_config.params.resblock_updown", "true", "ResBlock up/downsampling is not implemented")
        try need(!u.useScaleShiftNorm, "unet_config.params.use_scale_shift_norm", "true", "scale-shift norm is not implemented")
        try need(u.numHeadChannels > 0, "unet_config.params.num_head_channels", String(u.numHeadChannels), "a fixed head width is required (num_heads is not supported)")
        try check(u.contextDim != nil, "unet_config.params.context_dim", "required")
        try check(u.defaultFs != nil, "unet_config.params.default_fs", "required when fs_condition is true")
        try check(!u.channelMult.isEmpty && u.numResBlocks > 0 && u.modelChannels > 0 && u.transformerDepth > 0,
                  "unet_config.params", "channel_mult, num_res_blocks, model_channels, transformer_depth must be positive")
        for (level, m) in u.channelMult.enumerated() {
            let ch = u.modelChannels * m
            if u.attentionResolutions.contains(1 << level) || level == u.channelMult.count - 1 {
                try check(ch % u.numHeadChannels == 0, "unet_config.params.num_head_channels",
                          "level \(level) width \(ch) is not a multiple of the head width \(u.numHeadChannels)")
            }
            try check(ch % 32 == 0, "unet_config.params.channel_mult", "level \(level) width \(ch) is not a multiple of 32 (GroupNorm)")
        }

        try need(p.firstStageConfig.target == "lvdm.models.autoencoder.AutoencoderKL", "first_stage_config.target", p.firstStageConfig.target, "only AutoencoderKL")
        try need(a.doubleZ, "first_stage_config.params.ddconfig.double_z", "false", "only the KL autoencoder (double_z)")
        try need(a.attnResolutions.isEmpty, "first_stage_config.params.ddconfig.attn_resolutions", "\(a.attnResolutions)",
                 "attention inside VAE levels is not implemented (only the mid-block attention)")
        try check(p.firstStageConfig.params.embedDim == a.zChannels && a.zChannels == p.channels,
                  "first_stage_config.params.embed_dim", "embed_dim, z_channels and channels must agree")
        if let loss = p.firstStageConfig.params.lossconfig {
            try need(loss.target == "torch.nn.Identity", "first_stage_config.params.lossconfig.target", loss.target, "inference only")
        }

        try need(p.condStageConfig.target == "lvdm.modules.encoders.condition.FrozenOpenCLIPEmbedder", "cond_stage_config.target", p.condStageConfig.target, "only FrozenOpenCLIPEmbedder")
        try need(p.condStageConfig.params.layer == "penultimate", "cond_stage_config.params.layer", p.condStageConfig.params.layer, "only 'penultimate'")
        try need(p.imgCondStageConfig.target == "lvdm.modules.encoders.condition.FrozenOpenCLIPImageEmbedderV2", "img_cond_stage_config.target", p.imgCondStageConfig.target, "only FrozenOpenCLIPImageEmbedderV2")
        try need(p.imageProjStageConfig.target == "lvdm.modules.encoders.resampler.Resampler", "image_proj_stage_config.target", p.imageProjStageConfig.target, "only the perceiver Resampler")
        let text = try textEncoderArchitecture()
        let vision = try imageEncoderArchitecture()
        try check(text.textCfg.width == u.contextDim, "unet_config.params.context_dim", "must equal the text tower width \(text.textCfg.width) (the text output is used unprojected)")
        try check(r.outputDim == u.contextDim, "image_proj_stage_config.params.output_dim", "must equal context_dim")
        try check(r.embeddingDim == vision.visionCfg.width, "image_proj_stage_config.params.embedding_dim", "must equal the vision tower width \(vision.visionCfg.width)")
        try check(text.textCfg.width % text.textCfg.heads == 0, "open_clip text_cfg", "width must be a multiple of heads")
        try check(vision.visionCfg.width % vision.visionCfg.headWidth == 0, "open_clip vision_cfg", "width must be a multiple of head_width")
    }
}
