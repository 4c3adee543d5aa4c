import DynamiCrafterModel
import Foundation
import TensorCore
import TensorStorage
import Weights

/// A small random-weight model with the real architecture's structure (the 256 model's code
/// paths: ε-prediction, frame stride, learned image gate, the extra temporal transformer, per-
/// frame image tokens for 16 frames, the full 49408-token CLIP vocabulary) at toy widths, so the
/// whole pipeline runs end to end on any machine without the 10 GB download. Its output is
/// noise-like: the weights are random, except that the timestep is read slowly, as a trained
/// model reads it (`slowTimestepResponse`), so that samplers converge on it.
///
/// Deterministic: the same seed writes the same bytes. Weights are stored as float16 (~10 MB).
public enum DemoModel {
    /// Frames come out at 128×128 (latent 16×16) unless asked otherwise.
    public static let defaultFrameSize = 128
    /// Frame sizes must be multiples of 16 (VAE ×8, one UNet downsampling).
    public static let frameSizeRange = 32...1024

    public static func configJSON(frameSize: Int = defaultFrameSize) -> String {
        let latentSize = frameSize / 8
        return """
    {"model": {"target": "lvdm.models.ddpm3d.LatentVisualDiffusion", "params": {
      "linear_start": 0.00085, "linear_end": 0.012, "num_timesteps_cond": 1, "timesteps": 1000,
      "first_stage_key": "video", "cond_stage_key": "caption", "cond_stage_trainable": false,
      "conditioning_key": "hybrid", "image_size": [\(latentSize), \(latentSize)], "channels": 4,
      "scale_by_std": false, "scale_factor": 0.18215, "use_ema": false, "uncond_type": "empty_seq",
      "unet_config": {"target": "lvdm.modules.networks.openaimodel3d.UNetModel", "params": {
        "in_channels": 8, "out_channels": 4, "model_channels": 32, "attention_resolutions": [1, 2],
        "num_res_blocks": 1, "channel_mult": [1, 2], "dropout": 0.1, "num_head_channels": 16,
        "transformer_depth": 1, "context_dim": 32, "use_linear": true, "use_checkpoint": false,
        "temporal_conv": true, "temporal_attention": true, "temporal_selfatt_only": true,
        "use_relative_position": false, "use_causal_attention": false, "temporal_length": 16,
        "addition_attention": true, "image_cross_attention": true,
        "image_cross_attention_scale_learnable": true, "default_fs": 3, "fs_condition": true}},
      "first_stage_config": {"target": "lvdm.models.autoencoder.AutoencoderKL", "params": {
        "embed_dim": 4, "monitor": "val/rec_loss",
        "ddconfig": {"double_z": true, "z_channels": 4, "resolution": \(frameSize), "in_channels": 3, "out_ch": 3,
          "ch": 32, "ch_mult": [1, 1, 2, 2], "num_res_blocks": 1, "attn_resolutions": [], "dropout": 0.0},
        "lossconfig": {"target": "torch.nn.Identity"}}},
      "cond_stage_config": {"target": "lvdm.modules.encoders.condition.FrozenOpenCLIPEmbedder",
        "params": {"freeze": true, "layer": "penultimate", "arch": "demo-text"}},
      "img_cond_stage_config": {"target": "lvdm.modules.encoders.condition.FrozenOpenCLIPImageEmbedderV2",
        "params": {"freeze": true, "arch": "demo-vision"}},
      "image_proj_stage_config": {"target": "lvdm.modules.encoders.resampler.Resampler", "params": {
        "dim": 64, "depth": 2, "dim_head": 16, "heads": 4, "num_queries": 16, "embedding_dim": 64,
        "output_dim": 32, "ff_mult": 4, "video_length": 16}}
    }},
    "open_clip_model_configs": {
      "demo-text": {"embed_dim": 32, "vision_cfg": {"image_size": 224, "layers": 1, "width": 32, "head_width": 16, "patch_size": 32},
                    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 3}},
      "demo-vision": {"embed_dim": 64, "vision_cfg": {"image_size": 224, "layers": 2, "width": 64, "head_width": 16, "patch_size": 32},
                      "text_cfg": {"context_length": 77, "vocab_size": 64, "width": 32, "heads": 2, "layers": 1}}
    }}
    """
    }

    public static func config(frameSize: Int = defaultFrameSize) throws -> ModelConfig {
        guard frameSizeRange.contains(frameSize), frameSize % 16 == 0 else {
            throw DemoModelError("demo frame size \(frameSize) must be a multiple of 16 in \(frameSizeRange.lowerBound)…\(frameSizeRange.upperBound)")
        }
        return try ModelConfig.decode(json: Data(configJSON(frameSize: frameSize).utf8))
    }

    public static let weightsFileName = "model.safetensors"
    public static let configFileName = "config.json"

    /// Writes `model.safetensors` and `config.json` into `directory` (created if needed; existing
    /// files of those names are replaced atomically). Returns the two paths.
    @discardableResult
    public static func write(to directory: String, seed: UInt64 = 20231018,
                             frameSize: Int = defaultFrameSize) throws -> (weights: String, config: String) {
        let config = try config(frameSize: frameSize)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let manifest = try ParameterManifest(config: config)
        let random = RandomWeightArchive(manifest: manifest, seed: seed, label: "demo")
        let schedule = try NoiseSchedule(timesteps: config.params.timesteps, linearStart: config.params.linearStart,
                                         linearEnd: config.params.linearEnd)
        let buffers: [String: [Float]] = [
            "betas": schedule.betas, "alphas_cumprod": schedule.alphasCumprod,
            "alphas_cumprod_prev": schedule.alphasCumprodPrev, "sqrt_alphas_cumprod": schedule.sqrtAlphasCumprod,
            "sqrt_one_minus_alphas_cumprod": schedule.sqrtOneMinusAlphasCumprod,
            "log_one_minus_alphas_cumprod": schedule.logOneMinusAlphasCumprod,
            "sqrt_recip_alphas_cumprod": schedule.sqrtRecipAlphasCumprod,
            "sqrt_recipm1_alphas_cumprod": schedule.sqrtRecipm1AlphasCumprod,
            "posterior_variance": schedule.posteriorVariance,
            "posterior_log_variance_clipped": schedule.posteriorLogVarianceClipped,
            "posterior_mean_coef1": schedule.posteriorMeanCoef1, "posterior_mean_coef2": schedule.posteriorMeanCoef2,
        ]
        let weightsPath = (directory as NSString).appendingPathComponent(weightsFileName)
        let entries = random.infos.map { (name: $0.name, info: TensorInfo(dtype: .f16, shape: $0.info.shape)) }
        try SafetensorsWriter.write(entries: entries, metadata: [
            "model": "DynamiCrafter demo (random weights: its output is noise-like)",
            "written_by": "dynamicrafter demo-model", "seed": String(seed),
        ], to: weightsPath) { name in
            if let values = buffers[name] {
                return try TensorData(Tensor(shape: [values.count], scalars: values)).converted(to: .f16)
            }
            if name.hasSuffix("diffusion_model.time_embed.0.weight") {
                return try slowTimestepResponse(random.tensor(named: name)).converted(to: .f16)
            }
            return try random.tensor(named: name).converted(to: .f16)
        }
        let configPath = (directory as NSString).appendingPathComponent(configFileName)
        let temporary = configPath + ".tmp-\(getpid())"
        try Data(configJSON(frameSize: frameSize).utf8).write(to: URL(fileURLWithPath: temporary))
        guard rename(temporary, configPath) == 0 else {
            unlink(temporary)
            throw DemoModelError("cannot write \(configPath): \(String(cString: strerror(errno)))")
        }
        return (weightsPath, configPath)
    }

    /// The shortest period, in training timesteps, of the sinusoidal timestep embedding that the
    /// demo model reads.
    static let shortestTimestepPeriod = 1000.0

    /// `time_embed.0.weight` `[4·mc, mc]` with the columns of the fast embedding frequencies zeroed.
    /// A trained model's output changes slowly with the timestep; random weights read every
    /// frequency of the embedding alike, down to a period of 2π timesteps, which no sampler can
    /// follow: 20 and 200 steps then differ by aliasing, whatever the sampler. Reading only periods
    /// of 1000 timesteps and more keeps the output noise-like but lets samplers converge as on a
    /// real model, so that they can be compared on the demo model.
    static func slowTimestepResponse(_ weight: TensorData) throws -> TensorData {
        let tensor = weight.toTensor()
        guard tensor.rank == 2, tensor.shape[1] >= 2 else { return weight }
        let (rows, columns) = (tensor.shape[0], tensor.shape[1])
        let half = columns / 2
        // Column j reads cos (j < half) or sin of the frequency 10000^(−k/half), k = j mod half.
        let kept = (0..<columns).map { j -> Bool in
            let k = Double(j % half)
            let frequency = Foundation.exp(-Foundation.log(10000.0) * k / Double(half))
            return 2 * Double.pi / frequency >= shortestTimestepPeriod
        }
        var values = tensor.scalars
        for r in 0..<rows { for j in 0..<columns where !kept[j] { values[r * columns + j] = 0 } }
        return TensorData(try Tensor(shape: tensor.shape, scalars: values))
    }
}
