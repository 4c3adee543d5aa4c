import Foundation

// Configuration of a DynamiCrafter model in the reference's own schema: the keys are those of
// the inference YAMLs of Doubiiu/DynamiCrafter (`configs/inference_{256,512,1024}_v1.0.yaml`)
// and of `model_config` in the golden manifest. Decoding is strict: every key anywhere under
// the file that the port does not know is reported by path (`ModelConfigError.unknownOptions`),
// and `validate()` refuses values that select behaviour the port does not implement.
// Defaults for absent keys are the reference constructors' defaults (lvdm/models/ddpm3d.py,
// lvdm/modules/networks/openaimodel3d.py).

/// A whole configuration file: `model` (the reference YAML) plus, optionally, the OpenCLIP
/// architecture table `open_clip_model_configs` (as in the golden manifest) for custom arches.
public struct ModelConfig: Codable, Sendable, Equatable {
    public var model: Section<LatentDiffusionParams>
    /// Extra OpenCLIP architectures by name (the built-in one is "ViT-H-14").
    public var openClipModelConfigs: [String: OpenCLIPModelConfig]?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case model
        case openClipModelConfigs = "open_clip_model_configs"
    }

    public init(model: Section<LatentDiffusionParams>, openClipModelConfigs: [String: OpenCLIPModelConfig]? = nil) {
        self.model = model
        self.openClipModelConfigs = openClipModelConfigs
    }

    public init(from decoder: any Decoder) throws {
        try rejectUnknownKeys(decoder, allowed: CodingKeys.allCases.map(\.rawValue))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        model = try c.decode(Section<LatentDiffusionParams>.self, forKey: .model)
        openClipModelConfigs = try c.decodeIfPresent([String: OpenCLIPModelConfig].self, forKey: .openClipModelConfigs)
    }

    /// Shorthand for `model.params`.
    public var params: LatentDiffusionParams {
        get { model.params }
        set { model.params = newValue }
    }
}

/// `{target: <python class>, params: {...}}`, the reference's instantiate-from-config pattern.
public struct Section<Params: Codable & Sendable & Equatable>: Codable, Sendable, Equatable {
    public var target: String
    public var params: Params

    enum CodingKeys: String, CodingKey, CaseIterable { case target, params }

    public init(target: String, params: Params) {
        self.target = target
        self.params = params
    }

    public init(from decoder: any Decoder) throws {
        try rejectUnknownKeys(decoder, allowed: CodingKeys.allCases.map(\.rawValue))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        target = try c.decode(String.self, forKey: .target)
        params = try c.decode(Params.self, forKey: .params)
    }
}

/// `model.params` (LatentVisualDiffusion / LatentDiffusion / DDPM).
public struct LatentDiffusionParams: Codable, Sendable, Equatable {
    public var linearStart: Double
    public var linearEnd: Double
    public var numTimestepsCond: Int
    public var timesteps: Int
    public var firstStageKey: String
    public var condStageKey: String
    public var condStageTrainable: Bool
    public var conditioningKey: String
    /// Latent size [h, w] (a single integer in the YAML means square).
    public var imageSize: [Int]
    public var channels: Int
    public var scaleByStd: Bool
    public var scaleFactor: Double
    public var useEma: Bool
    public var uncondType: String
    /// "eps" or "v".
    public var parameterization: String
    public var rescaleBetasZeroSnr: Bool
    public var useDynamicRescale: Bool
    public var baseScale: Double
    public var fpsConditionType: String
    public var perframeAe: Bool
    public var unetConfig: Section<UNetParams>
    public var firstStageConfig: Section<AutoencoderParams>
    public var condStageConfig: Section<TextEmbedderParams>
    public var imgCondStageConfig: Section<ImageEmbedderParams>
    public var imageProjStageConfig: Section<ResamplerParams>

    enum CodingKeys: String, CodingKey, CaseIterable {
        case linearStart = "linear_start", linearEnd = "linear_end"
        case numTimestepsCond = "num_timesteps_cond", timesteps
        case firstStageKey = "first_stage_key", condStageKey = "cond_stage_key"
        case condStageTrainable = "cond_stage_trainable", conditioningKey = "conditioning_key"
        case imageSize = "image_size", channels
        case scaleByStd = "scale_by_std", scaleFactor = "scale_factor", useEma = "use_ema"
        case uncondType = "uncond_type", parameterization
        case rescaleBetasZeroSnr = "rescale_betas_zero_snr", useDynamicRescale = "use_dynamic_rescale"
        case baseScale = "base_scale", fpsConditionType = "fps_condition_type", perframeAe = "perframe_ae"
        case unetConfig = "unet_config", firstStageConfig = "first_stage_config"
        case condStageConfig = "cond_stage_config", imgCondStageConfig = "img_cond_stage_config"
        case imageProjStageConfig = "image_proj_stage_config"
    }

    public init(from decoder: any Decoder) throws {
        try rejectUnknownKeys(decoder, allowed: CodingKeys.allCases.map(\.rawValue))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        linearStart = try c.decodeIfPresent(Double.self, forKey: .linearStart) ?? 1e-4
        linearEnd = try c.decodeIfPresent(Double.self, forKey: .linearEnd) ?? 2e-2
        numTimestepsCond = try c.decodeIfPresent(Int.self, forKey: .numTimestepsCond) ?? 1
        timesteps = try c.decodeIfPresent(Int.self, forKey: .timesteps) ?? 1000
        firstStageKey = try c.decodeIfPresent(String.self, forKey: .firstStageKey) ?? "image"
        condStageKey = try c.decodeIfPresent(String.self, forKey: .condStageKey) ?? "caption"
        condStageTrainable = try c.decodeIfPresent(Bool.self, forKey: .condStageTrainable) ?? false
        conditioningKey = try c.decodeIfPresent(String.self, forKey: .conditioningKey) ?? "crossattn"
        if let list = try? c.decodeIfPresent([Int].self, forKey: .imageSize) {
            imageSize = list
        } else if let side = try c.decodeIfPresent(Int.self, forKey: .imageSize) {
            imageSize = [side, side]
        } else {
            imageSize = [256, 256]
        }
        channels = try c.decodeIfPresent(Int.self, forKey: .channels) ?? 3
        scaleByStd = try c.decodeIfPresent(Bool.self, forKey: .scaleByStd) ?? false
        scaleFactor = try c.decodeIfPresent(Double.self, forKey: .scaleFactor) ?? 1.0
        useEma = try c.decodeIfPresent(Bool.self, forKey: .useEma) ?? true
        uncondType = try c.decodeIfPresent(String.self, forKey: .uncondType) ?? "empty_seq"
        parameterization = try c.decodeIfPresent(String.self, forKey: .parameterization) ?? "eps"
        rescaleBetasZeroSnr = try c.decodeIfPresent(Bool.self, forKey: .rescaleBetasZeroSnr) ?? false
        useDynamicRescale = try c.decodeIfPresent(Bool.self, forKey: .useDynamicRescale) ?? false
        baseScale = try c.decodeIfPresent(Double.self, forKey: .baseScale) ?? 0.7
        fpsConditionType = try c.decodeIfPresent(String.self, forKey: .fpsConditionType) ?? "fs"
        perframeAe = try c.decodeIfPresent(Bool.self, forKey: .perframeAe) ?? false
        unetConfig = try c.decode(Section<UNetParams>.self, forKey: .unetConfig)
        firstStageConfig = try c.decode(Section<AutoencoderParams>.self, forKey: .firstStageConfig)
        condStageConfig = try c.decode(Section<TextEmbedderParams>.self, forKey: .condStageConfig)
        imgCondStageConfig = try c.decode(Section<ImageEmbedderParams>.self, forKey: .imgCondStageConfig)
        imageProjStageConfig = try c.decode(Section<ResamplerParams>.self, forKey: .imageProjStageConfig)
    }
}

/// `unet_config.params` (openaimodel3d.UNetModel).
public struct UNetParams: Codable, Sendable, Equatable {
    public var inChannels: Int
    public var outChannels: Int
    public var modelChannels: Int
    /// Downsample factors (1, 2, 4, …) at which levels get transformers.
    public var attentionResolutions: [Int]
    public var numResBlocks: Int
    public var channelMult: [Int]
    public var dropout: Double
    /// Head width; the number of heads is channels / num_head_channels.
    public var numHeadChannels: Int
    public var numHeads: Int
    public var transformerDepth: Int
    public var contextDim: Int?
    public var useLinear: Bool
    public var useCheckpoint: Bool
    public var temporalConv: Bool
    public var temporalAttention: Bool
    public var temporalSelfattOnly: Bool
    public var useRelativePosition: Bool
    public var useCausalAttention: Bool
    public var temporalLength: Int?
    public var additionAttention: Bool
    public var imageCrossAttention: Bool
    public var imageCrossAttentionScaleLearnable: Bool
    public var defaultFs: Int?
    public var fsCondition: Bool
    public var convResample: Bool
    public var resblockUpdown: Bool
    public var useScaleShiftNorm: Bool
    public var useFp16: Bool

    enum CodingKeys: String, CodingKey, CaseIterable {
        case inChannels = "in_channels", outChannels = "out_channels", modelChannels = "model_channels"
        case attentionResolutions = "attention_resolutions", numResBlocks = "num_res_blocks"
        case channelMult = "channel_mult", dropout, numHeadChannels = "num_head_channels"
        case numHeads = "num_heads", transformerDepth = "transformer_depth", contextDim = "context_dim"
        case useLinear = "use_linear", useCheckpoint = "use_checkpoint"
        case temporalConv = "temporal_conv", temporalAttention = "temporal_attention"
        case temporalSelfattOnly = "temporal_selfatt_only", useRelativePosition = "use_relative_position"
        case useCausalAttention = "use_causal_attention", temporalLength = "temporal_length"
        case additionAttention = "addition_attention", imageCrossAttention = "image_cross_attention"
        case imageCrossAttentionScaleLearnable = "image_cross_attention_scale_learnable"
        case defaultFs = "default_fs", fsCondition = "fs_condition"
        case convResample = "conv_resample", resblockUpdown = "resblock_updown"
        case useScaleShiftNorm = "use_scale_shift_norm", useFp16 = "use_fp16"
    }

    public init(from decoder: any Decoder) throws {
        try rejectUnknownKeys(decoder, allowed: CodingKeys.allCases.map(\.rawValue))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        inChannels = try c.decode(Int.self, forKey: .inChannels)
        outChannels = try c.decode(Int.self, forKey: .outChannels)
        modelChannels = try c.decode(Int.self, forKey: .modelChannels)
        attentionResolutions = try c.decode([Int].self, forKey: .attentionResolutions)
        numResBlocks = try c.decode(Int.self, forKey: .numResBlocks)
        channelMult = try c.decodeIfPresent([Int].self, forKey: .channelMult) ?? [1, 2, 4, 8]
        dropout = try c.decodeIfPresent(Double.self, forKey: .dropout) ?? 0
        numHeadChannels = try c.decodeIfPresent(Int.self, forKey: .numHeadChannels) ?? -1
        numHeads = try c.decodeIfPresent(Int.self, forKey: .numHeads) ?? -1
        transformerDepth = try c.decodeIfPresent(Int.self, forKey: .transformerDepth) ?? 1
        contextDim = try c.decodeIfPresent(Int.self, forKey: .contextDim)
        useLinear = try c.decodeIfPresent(Bool.self, forKey: .useLinear) ?? false
        useCheckpoint = try c.decodeIfPresent(Bool.self, forKey: .useCheckpoint) ?? false
        temporalConv = try c.decodeIfPresent(Bool.self, forKey: .temporalConv) ?? false
        temporalAttention = try c.decodeIfPresent(Bool.self, forKey: .temporalAttention) ?? true
        temporalSelfattOnly = try c.decodeIfPresent(Bool.self, forKey: .temporalSelfattOnly) ?? true
        useRelativePosition = try c.decodeIfPresent(Bool.self, forKey: .useRelativePosition) ?? false
        useCausalAttention = try c.decodeIfPresent(Bool.self, forKey: .useCausalAttention) ?? false
        temporalLength = try c.decodeIfPresent(Int.self, forKey: .temporalLength)
        additionAttention = try c.decodeIfPresent(Bool.self, forKey: .additionAttention) ?? false
        imageCrossAttention = try c.decodeIfPresent(Bool.self, forKey: .imageCrossAttention) ?? false
        imageCrossAttentionScaleLearnable =
            try c.decodeIfPresent(Bool.self, forKey: .imageCrossAttentionScaleLearnable) ?? false
        defaultFs = try c.decodeIfPresent(Int.self, forKey: .defaultFs)
        fsCondition = try c.decodeIfPresent(Bool.self, forKey: .fsCondition) ?? false
        convResample = try c.decodeIfPresent(Bool.self, forKey: .convResample) ?? true
        resblockUpdown = try c.decodeIfPresent(Bool.self, forKey: .resblockUpdown) ?? false
        useScaleShiftNorm = try c.decodeIfPresent(Bool.self, forKey: .useScaleShiftNorm) ?? false
        useFp16 = try c.decodeIfPresent(Bool.self, forKey: .useFp16) ?? false
    }
}

/// `first_stage_config.params` (AutoencoderKL).
public struct AutoencoderParams: Codable, Sendable, Equatable {
    public var embedDim: Int
    public var monitor: String?
    public var ddconfig: AutoencoderDDConfig
    public var lossconfig: LossConfig?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case embedDim = "embed_dim", monitor, ddconfig, lossconfig
    }

    public init(from decoder: any Decoder) throws {
        try rejectUnknownKeys(decoder, allowed: CodingKeys.allCases.map(\.rawValue))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        embedDim = try c.decode(Int.self, forKey: .embedDim)
        monitor = try c.decodeIfPresent(String.self, forKey: .monitor)
        ddconfig = try c.decode(AutoencoderDDConfig.self, forKey: .ddconfig)
        lossconfig = try c.decodeIfPresent(LossConfig.self, forKey: .lossconfig)
    }
}

/// `lossconfig` (only the identity loss of the inference configs).
public struct LossConfig: Codable, Sendable, Equatable {
    public var target: String

    enum CodingKeys: String, CodingKey, CaseIterable { case target }

    public init(from decoder: any Decoder) throws {
        try rejectUnknownKeys(decoder, allowed: CodingKeys.allCases.map(\.rawValue))
        target = try decoder.container(keyedBy: CodingKeys.self).decode(String.self, forKey: .target)
    }
}

/// `ddconfig` (Encoder/Decoder of the VAE).
public struct AutoencoderDDConfig: Codable, Sendable, Equatable {
    public var doubleZ: Bool
    public var zChannels: Int
    public var resolution: Int
    public var inChannels: Int
    public var outCh: Int
    public var ch: Int
    public var chMult: [Int]
    public var numResBlocks: Int
    public var attnResolutions: [Int]
    public var dropout: Double

    enum CodingKeys: String, CodingKey, CaseIterable {
        case doubleZ = "double_z", zChannels = "z_channels", resolution, inChannels = "in_channels"
        case outCh = "out_ch", ch, chMult = "ch_mult", numResBlocks = "num_res_blocks"
        case attnResolutions = "attn_resolutions", dropout
    }

    public init(from decoder: any Decoder) throws {
        try rejectUnknownKeys(decoder, allowed: CodingKeys.allCases.map(\.rawValue))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        doubleZ = try c.decodeIfPresent(Bool.self, forKey: .doubleZ) ?? true
        zChannels = try c.decode(Int.self, forKey: .zChannels)
        resolution = try c.decode(Int.self, forKey: .resolution)
        inChannels = try c.decode(Int.self, forKey: .inChannels)
        outCh = try c.decode(Int.self, forKey: .outCh)
        ch = try c.decode(Int.self, forKey: .ch)
        chMult = try c.decodeIfPresent([Int].self, forKey: .chMult) ?? [1, 2, 4, 8]
        numResBlocks = try c.decode(Int.self, forKey: .numResBlocks)
        attnResolutions = try c.decodeIfPresent([Int].self, forKey: .attnResolutions) ?? []
        dropout = try c.decodeIfPresent(Double.self, forKey: .dropout) ?? 0
    }
}

/// `cond_stage_config.params` (FrozenOpenCLIPEmbedder: the text tower).
public struct TextEmbedderParams: Codable, Sendable, Equatable {
    public var arch: String
    public var version: String?
    public var device: String?
    public var freeze: Bool
    /// "penultimate" (the only layer the port supports) or "last".
    public var layer: String

    enum CodingKeys: String, CodingKey, CaseIterable { case arch, version, device, freeze, layer }

    public init(from decoder: any Decoder) throws {
        try rejectUnknownKeys(decoder, allowed: CodingKeys.allCases.map(\.rawValue))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        arch = try c.decodeIfPresent(String.self, forKey: .arch) ?? OpenCLIPModelConfig.vitH14Name
        version = try c.decodeIfPresent(String.self, forKey: .version)
        device = try c.decodeIfPresent(String.self, forKey: .device)
        freeze = try c.decodeIfPresent(Bool.self, forKey: .freeze) ?? true
        layer = try c.decodeIfPresent(String.self, forKey: .layer) ?? "last"
    }
}

/// `img_cond_stage_config.params` (FrozenOpenCLIPImageEmbedderV2: the vision tower).
public struct ImageEmbedderParams: Codable, Sendable, Equatable {
    public var arch: String
    public var version: String?
    public var device: String?
    public var freeze: Bool

    enum CodingKeys: String, CodingKey, CaseIterable { case arch, version, device, freeze }

    public init(from decoder: any Decoder) throws {
        try rejectUnknownKeys(decoder, allowed: CodingKeys.allCases.map(\.rawValue))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        arch = try c.decodeIfPresent(String.self, forKey: .arch) ?? OpenCLIPModelConfig.vitH14Name
        version = try c.decodeIfPresent(String.self, forKey: .version)
        device = try c.decodeIfPresent(String.self, forKey: .device)
        freeze = try c.decodeIfPresent(Bool.self, forKey: .freeze) ?? true
    }
}

/// `image_proj_stage_config.params` (the perceiver Resampler).
public struct ResamplerParams: Codable, Sendable, Equatable {
    public var dim: Int
    public var depth: Int
    public var dimHead: Int
    public var heads: Int
    public var numQueries: Int
    public var embeddingDim: Int
    public var outputDim: Int
    public var ffMult: Int
    public var videoLength: Int?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case dim, depth, dimHead = "dim_head", heads, numQueries = "num_queries"
        case embeddingDim = "embedding_dim", outputDim = "output_dim", ffMult = "ff_mult"
        case videoLength = "video_length"
    }

    public init(from decoder: any Decoder) throws {
        try rejectUnknownKeys(decoder, allowed: CodingKeys.allCases.map(\.rawValue))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        dim = try c.decodeIfPresent(Int.self, forKey: .dim) ?? 1024
        depth = try c.decodeIfPresent(Int.self, forKey: .depth) ?? 8
        dimHead = try c.decodeIfPresent(Int.self, forKey: .dimHead) ?? 64
        heads = try c.decodeIfPresent(Int.self, forKey: .heads) ?? 16
        numQueries = try c.decodeIfPresent(Int.self, forKey: .numQueries) ?? 8
        embeddingDim = try c.decodeIfPresent(Int.self, forKey: .embeddingDim) ?? 768
        outputDim = try c.decodeIfPresent(Int.self, forKey: .outputDim) ?? 1024
        ffMult = try c.decodeIfPresent(Int.self, forKey: .ffMult) ?? 4
        videoLength = try c.decodeIfPresent(Int.self, forKey: .videoLength)
    }

    /// Learned query tokens: `num_queries` per frame when `video_length` is set.
    public var latentCount: Int { numQueries * (videoLength ?? 1) }
}
