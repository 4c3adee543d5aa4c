/// Top-level key prefixes of a DynamiCrafter checkpoint and the one legacy renaming.
public enum CheckpointKeys {
    public static let unet = "model.diffusion_model."
    public static let vae = "first_stage_model."
    public static let textEncoder = "cond_stage_model.model."
    public static let imageEncoder = "embedder.model."
    public static let resampler = "image_proj_model."

    /// The 12 diffusion schedule buffers every checkpoint carries (DDPM.register_schedule).
    public static let scheduleBuffers = [
        "betas", "alphas_cumprod", "alphas_cumprod_prev", "sqrt_alphas_cumprod",
        "sqrt_one_minus_alphas_cumprod", "log_one_minus_alphas_cumprod", "sqrt_recip_alphas_cumprod",
        "sqrt_recipm1_alphas_cumprod", "posterior_variance", "posterior_log_variance_clipped",
        "posterior_mean_coef1", "posterior_mean_coef2",
    ]
    /// The dynamic-rescale buffer of the 512/1024 models.
    public static let scaleArr = "scale_arr"

    /// Canonical prefix of the frame-stride / fps embedding MLP.
    public static let fpsEmbedding = unet + "fps_embedding."
    /// The name the released 256 `model.ckpt` uses for the same module.
    public static let legacyFramestrideEmbed = unet + "framestride_embed."

    /// The canonical name of a checkpoint key (`framestride_embed.*` → `fps_embedding.*`).
    public static func canonical(_ key: String) -> String {
        key.hasPrefix(legacyFramestrideEmbed)
            ? fpsEmbedding + key.dropFirst(legacyFramestrideEmbed.count) : key
    }

    /// The name under which a file that uses `naming` stores the canonical key `key`.
    public static func stored(_ key: String, naming: FpsEmbeddingNaming) -> String {
        guard naming == .legacyFramestrideEmbed, key.hasPrefix(fpsEmbedding) else { return key }
        return legacyFramestrideEmbed + key.dropFirst(fpsEmbedding.count)
    }
}

/// How a checkpoint names the fs/fps embedding MLP.
public enum FpsEmbeddingNaming: String, Sendable, Equatable, CustomStringConvertible {
    /// `model.diffusion_model.fps_embedding.*` (512/1024 checkpoints, golden safetensors).
    case fpsEmbedding = "fps_embedding"
    /// `model.diffusion_model.framestride_embed.*` (the released 256 checkpoint).
    case legacyFramestrideEmbed = "framestride_embed"
    /// Both names occur (the legacy keys are then reported as unexpected).
    case mixed
    /// Neither name occurs.
    case absent

    public var description: String { rawValue }
}
