import Foundation

/// An OpenCLIP architecture in open_clip's own JSON schema (`model_configs/<arch>.json`):
/// `embed_dim`, `vision_cfg`, `text_cfg`. The released models use "ViT-H-14"; the tiny golden
/// models name custom ones listed under `open_clip_model_configs`.
public struct OpenCLIPModelConfig: Codable, Sendable, Equatable {
    public var embedDim: Int
    public var visionCfg: Vision
    public var textCfg: Text

    public static let vitH14Name = "ViT-H-14"

    /// open_clip's `ViT-H-14.json`: text width 1024, 16 heads, 24 layers, context 77, vocabulary
    /// 49408; vision width 1280, 32 layers, head width 80 (16 heads), patch 14, image 224.
    public static let vitH14 = OpenCLIPModelConfig(
        embedDim: 1024,
        visionCfg: Vision(imageSize: 224, layers: 32, width: 1280, headWidth: 80, patchSize: 14, mlpRatio: 4),
        textCfg: Text(contextLength: 77, vocabSize: 49408, width: 1024, heads: 16, layers: 24, mlpRatio: 4))

    public init(embedDim: Int, visionCfg: Vision, textCfg: Text) {
        self.embedDim = embedDim
        self.visionCfg = visionCfg
        self.textCfg = textCfg
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case embedDim = "embed_dim", visionCfg = "vision_cfg", textCfg = "text_cfg"
    }

    public init(from decoder: any Decoder) throws {
        try rejectUnknownKeys(decoder, allowed: CodingKeys.allCases.map(\.rawValue))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        embedDim = try c.decode(Int.self, forKey: .embedDim)
        visionCfg = try c.decode(Vision.self, forKey: .visionCfg)
        textCfg = try c.decode(Text.self, forKey: .textCfg)
    }

    /// `vision_cfg`. Heads = width / head_width.
    public struct Vision: Codable, Sendable, Equatable {
        public var imageSize: Int
        public var layers: Int
        public var width: Int
        public var headWidth: Int
        public var patchSize: Int
        public var mlpRatio: Double

        public init(imageSize: Int, layers: Int, width: Int, headWidth: Int, patchSize: Int, mlpRatio: Double = 4) {
            self.imageSize = imageSize
            self.layers = layers
            self.width = width
            self.headWidth = headWidth
            self.patchSize = patchSize
            self.mlpRatio = mlpRatio
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case imageSize = "image_size", layers, width, headWidth = "head_width"
            case patchSize = "patch_size", mlpRatio = "mlp_ratio"
        }

        public init(from decoder: any Decoder) throws {
            try rejectUnknownKeys(decoder, allowed: CodingKeys.allCases.map(\.rawValue))
            let c = try decoder.container(keyedBy: CodingKeys.self)
            imageSize = try c.decodeIfPresent(Int.self, forKey: .imageSize) ?? 224
            layers = try c.decode(Int.self, forKey: .layers)
            width = try c.decode(Int.self, forKey: .width)
            headWidth = try c.decodeIfPresent(Int.self, forKey: .headWidth) ?? 64
            patchSize = try c.decode(Int.self, forKey: .patchSize)
            mlpRatio = try c.decodeIfPresent(Double.self, forKey: .mlpRatio) ?? 4
        }

        public var heads: Int { width / headWidth }
        public var gridSize: Int { imageSize / patchSize }
        /// Class token + one token per patch.
        public var tokenCount: Int { gridSize * gridSize + 1 }
        public var mlpWidth: Int { Int(Double(width) * mlpRatio) }
    }

    /// `text_cfg`.
    public struct Text: Codable, Sendable, Equatable {
        public var contextLength: Int
        public var vocabSize: Int
        public var width: Int
        public var heads: Int
        public var layers: Int
        public var mlpRatio: Double

        public init(contextLength: Int, vocabSize: Int, width: Int, heads: Int, layers: Int, mlpRatio: Double = 4) {
            self.contextLength = contextLength
            self.vocabSize = vocabSize
            self.width = width
            self.heads = heads
            self.layers = layers
            self.mlpRatio = mlpRatio
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case contextLength = "context_length", vocabSize = "vocab_size", width, heads, layers
            case mlpRatio = "mlp_ratio"
        }

        public init(from decoder: any Decoder) throws {
            try rejectUnknownKeys(decoder, allowed: CodingKeys.allCases.map(\.rawValue))
            let c = try decoder.container(keyedBy: CodingKeys.self)
            contextLength = try c.decodeIfPresent(Int.self, forKey: .contextLength) ?? 77
            vocabSize = try c.decodeIfPresent(Int.self, forKey: .vocabSize) ?? 49408
            width = try c.decode(Int.self, forKey: .width)
            heads = try c.decode(Int.self, forKey: .heads)
            layers = try c.decode(Int.self, forKey: .layers)
            mlpRatio = try c.decodeIfPresent(Double.self, forKey: .mlpRatio) ?? 4
        }

        public var mlpWidth: Int { Int(Double(width) * mlpRatio) }
    }
}

extension ModelConfig {
    /// The OpenCLIP architecture called `name`: the file's own table first, then the built-in
    /// ViT-H-14.
    public func openClipArchitecture(named name: String) throws -> OpenCLIPModelConfig {
        if let custom = openClipModelConfigs?[name] { return custom }
        if name == OpenCLIPModelConfig.vitH14Name { return .vitH14 }
        throw ModelConfigError.unsupported(
            option: "open_clip arch", value: name,
            reason: "known architectures: \(([OpenCLIPModelConfig.vitH14Name] + (openClipModelConfigs?.keys.sorted() ?? [])).joined(separator: ", "))")
    }

    /// The text tower's architecture (`cond_stage_config.params.arch`).
    public func textEncoderArchitecture() throws -> OpenCLIPModelConfig {
        try openClipArchitecture(named: params.condStageConfig.params.arch)
    }

    /// The image embedder's architecture (`img_cond_stage_config.params.arch`).
    public func imageEncoderArchitecture() throws -> OpenCLIPModelConfig {
        try openClipArchitecture(named: params.imgCondStageConfig.params.arch)
    }
}
