/// Every checkpoint key a configuration implies, with its shape: the state_dict of the reference
/// LatentVisualDiffusion built from that configuration (UNet with init_attn, temporal convs and
/// dual cross-attention; AutoencoderKL; the OpenCLIP text tower with its unused
/// text_projection/logit_scale; the OpenCLIP image embedder with its unused text leftovers; the
/// Resampler; the 12 schedule buffers and `scale_arr` under dynamic rescale). Canonical names
/// (`fps_embedding`); the 256 checkpoint's legacy `framestride_embed` is accepted by `check`.
///
/// Derived, not written down: the networks are built against a `ParameterRecorder`, so the
/// manifest is exactly what loading will ask for, and the architecture lives in the blocks.
public struct ParameterManifest: Sendable, Equatable {
    public struct Entry: Sendable, Equatable, Hashable {
        public let key: String
        /// Empty for a 0-dim scalar (`attn2.alpha`, `logit_scale`).
        public let shape: [Int]

        public init(key: String, shape: [Int]) {
            self.key = key
            self.shape = shape
        }
    }

    /// In the order the blocks ask for them (the networks in loading order, then the unread
    /// tensors); `ManifestReport` lists missing keys in this order.
    public let entries: [Entry]
    private let index: [String: Int]

    public var count: Int { entries.count }
    public var keys: [String] { entries.map(\.key) }

    /// The expected shape of a canonical key.
    public func shape(of key: String) -> [Int]? { index[key].map { entries[$0].shape } }

    /// As a dictionary key → shape.
    public var shapes: [String: [Int]] { Dictionary(uniqueKeysWithValues: entries.map { ($0.key, $0.shape) }) }

    /// Total number of elements under a key prefix ("" for all).
    public func elementCount(prefix: String = "") -> Int {
        entries.filter { $0.key.hasPrefix(prefix) }.reduce(0) { $0 + $1.shape.reduce(1, *) }
    }

    /// Builds the networks against a `ParameterRecorder` (nothing is read or packed) and
    /// lists what they ask for, then what the checkpoint holds besides (`declareUnread`).
    public init(config: ModelConfig) throws {
        try config.validate()
        let recorder = ParameterRecorder()
        let root = recorder.source
        let p = config.params
        for name in CheckpointKeys.scheduleBuffers { try root.declare(name, shape: [p.timesteps]) }
        if p.useDynamicRescale {
            try root.declare(CheckpointKeys.scaleArr, shape: [p.timesteps + Self.dynamicRescaleTurningStep])
        }
        _ = try ModelNetworks(parameters: root, config: config, context: recorder.context)
        try Self.declareUnread(root, config: config, context: recorder.context)
        entries = recorder.entries
        index = Dictionary(uniqueKeysWithValues: entries.enumerated().map { ($1.key, $0) })
    }

    /// `turning_step` of LatentDiffusion: scale_arr = linspace(1, base, 400) ++ full(timesteps, base).
    public static let dynamicRescaleTurningStep = 400

    /// The parts of the two OpenCLIP models that the checkpoint keeps and inference never
    /// reads: the contrastive heads (`text_projection`, `logit_scale`, `visual.proj`,
    /// `visual.ln_post`), the text tower's last block (conditioning takes the penultimate
    /// layer) and, in the image embedder (FrozenOpenCLIPImageEmbedderV2 deletes only the text
    /// `transformer`), the text tower's embeddings and `ln_final`. Blocks that exist in the
    /// code are built against the recorder; the rest are single tensors.
    private static func declareUnread(_ root: ParameterSource, config: ModelConfig, context: ComputeContext) throws {
        let text = try config.textEncoderArchitecture()
        let textTower = root.scoped("cond_stage_model").scoped("model")
        let t = CLIPTextEncoder.Configuration(text.textCfg)
        _ = try CLIPResidualBlock(textTower.scoped("transformer").scoped("resblocks").scoped(String(t.layers - 1)),
                                  width: t.width, heads: t.heads, mlpWidth: t.mlpWidth, context: context)
        try textTower.declare("text_projection", shape: [t.width, text.embedDim])
        try textTower.declare("logit_scale", shape: [])

        let vision = try config.imageEncoderArchitecture()
        let embedder = root.scoped("embedder").scoped("model")
        // One layer, none of which runs: the embeddings and ln_final of the text tower.
        var leftovers = CLIPTextEncoder.Configuration(vision.textCfg)
        leftovers.layers = 1
        _ = try CLIPTextEncoder(parameters: embedder, configuration: leftovers, context: context)
        try embedder.declare("text_projection", shape: [vision.textCfg.width, vision.embedDim])
        try embedder.declare("logit_scale", shape: [])
        let visual = embedder.scoped("visual")
        try visual.declare("proj", shape: [vision.visionCfg.width, vision.embedDim])
        _ = try LayerNorm(visual.scoped("ln_post"), width: vision.visionCfg.width)
    }
}
