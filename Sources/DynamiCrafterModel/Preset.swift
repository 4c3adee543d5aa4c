import Foundation

/// How the DDIM timesteps are spaced (`--timestep_spacing` of scripts/evaluation/inference.py).
public enum PresetTimestepSpacing: String, Sendable, Equatable, Codable {
    case uniform
    case uniformTrailing = "uniform_trailing"
}

/// What the sampler conditions on (inference.py `--interp` / `--loop`).
public enum PresetConditioningMode: String, Sendable, Equatable, Codable {
    /// Image-to-video: the first-frame latent repeated over all frames.
    case imageToVideo = "i2v"
    /// First and last frame latents (two images).
    case interpolation = "interp"
    /// First and last frame latents of one image; the last output frame is dropped.
    case loop
}

/// Sampling defaults of a released checkpoint, as the reference scripts run it.
public struct SamplingDefaults: Sendable, Equatable, Codable {
    public var ddimSteps: Int
    public var ddimEta: Double
    public var guidanceScale: Double
    public var frames: Int
    /// `fs`: frame stride (256) or frames per second (512, 512-interp, 1024).
    public var frameStride: Int
    public var timestepSpacing: PresetTimestepSpacing
    public var guidanceRescale: Double
    /// Encode/decode the VAE one frame at a time (`--perframe_ae`).
    public var perFrameVAE: Bool
    public var mode: PresetConditioningMode
    /// Output frame rate the reference saves videos with (inference.py
    /// `save_results_seperate(..., fps=8)`).
    public var outputFPS: Int
    /// The seed the reference scripts use (run.sh 123; run_application.sh interp 12306).
    public var seed: UInt64

    public init(ddimSteps: Int, ddimEta: Double, guidanceScale: Double, frames: Int, frameStride: Int,
                timestepSpacing: PresetTimestepSpacing, guidanceRescale: Double, perFrameVAE: Bool,
                mode: PresetConditioningMode, outputFPS: Int, seed: UInt64) {
        self.ddimSteps = ddimSteps; self.ddimEta = ddimEta; self.guidanceScale = guidanceScale
        self.frames = frames; self.frameStride = frameStride; self.timestepSpacing = timestepSpacing
        self.guidanceRescale = guidanceRescale; self.perFrameVAE = perFrameVAE; self.mode = mode
        self.outputFPS = outputFPS; self.seed = seed
    }
}

/// A released DynamiCrafter model: its configuration and how the reference samples it.
public struct Preset: Sendable, Equatable {
    public let name: String
    public let height: Int
    public let width: Int
    public let config: ModelConfig
    public let sampling: SamplingDefaults
    /// The checkpoint the reference scripts load.
    public let checkpoint: String

    public static let all: [Preset] = [p256, p512, p512Interp, p1024]
    public static var names: [String] { all.map(\.name) }

    public static func named(_ name: String) -> Preset? { all.first { $0.name == name } }

    // Every value below is from Doubiiu/DynamiCrafter: configs/inference_{256,512,1024}_v1.0.yaml
    // (model), scripts/run.sh (256/512/1024 sampling) and scripts/run_application.sh (512
    // interp/loop: the 512 yaml with the dynamicrafter_512_interp_v1 checkpoint, FS=5).
    // run.sh: --ddim_steps 50 --ddim_eta 1.0 --unconditional_guidance_scale 7.5
    // --video_length 16; 256 adds nothing else (inference.py defaults: 'uniform' spacing,
    // guidance_rescale 0, no --perframe_ae); 512/1024 add --timestep_spacing 'uniform_trailing'
    // --guidance_rescale 0.7 --perframe_ae.

    /// 256×256, eps-prediction, frame stride 3 (run.sh: H=256, FS=3).
    public static let p256 = Preset(
        name: "256", height: 256, width: 256,
        config: makeConfig(latent: [32, 32], zeroSNR: false, baseScale: nil, defaultFs: 3, learnableGate: true, perframeAE: nil),
        sampling: SamplingDefaults(ddimSteps: 50, ddimEta: 1.0, guidanceScale: 7.5, frames: 16, frameStride: 3,
                                   timestepSpacing: .uniform, guidanceRescale: 0, perFrameVAE: false,
                                   mode: .imageToVideo, outputFPS: 8, seed: 123),
        checkpoint: "dynamicrafter_256_v1/model.ckpt")

    /// 320×512, v-prediction, fps 24 (run.sh: H=320, FS=24).
    public static let p512 = Preset(
        name: "512", height: 320, width: 512,
        config: makeConfig(latent: [40, 64], zeroSNR: true, baseScale: 0.7, defaultFs: 24, learnableGate: false, perframeAE: true),
        sampling: SamplingDefaults(ddimSteps: 50, ddimEta: 1.0, guidanceScale: 7.5, frames: 16, frameStride: 24,
                                   timestepSpacing: .uniformTrailing, guidanceRescale: 0.7, perFrameVAE: true,
                                   mode: .imageToVideo, outputFPS: 8, seed: 123),
        checkpoint: "dynamicrafter_512_v1/model.ckpt")

    /// 320×512 interpolation checkpoint, fps 5 (run_application.sh: FS=5, --interp; the yaml
    /// is inference_512_v1.0.yaml, so default_fs stays 24 in the config).
    public static let p512Interp = Preset(
        name: "512-interp", height: 320, width: 512,
        config: p512.config,
        sampling: SamplingDefaults(ddimSteps: 50, ddimEta: 1.0, guidanceScale: 7.5, frames: 16, frameStride: 5,
                                   timestepSpacing: .uniformTrailing, guidanceRescale: 0.7, perFrameVAE: true,
                                   mode: .interpolation, outputFPS: 8, seed: 12306),
        checkpoint: "dynamicrafter_512_interp_v1/model.ckpt")

    /// 576×1024, v-prediction, fps 10, dynamic-rescale base 0.3 (run.sh: H=576, FS=10).
    public static let p1024 = Preset(
        name: "1024", height: 576, width: 1024,
        config: makeConfig(latent: [72, 128], zeroSNR: true, baseScale: 0.3, defaultFs: 10, learnableGate: false, perframeAE: true),
        sampling: SamplingDefaults(ddimSteps: 50, ddimEta: 1.0, guidanceScale: 7.5, frames: 16, frameStride: 10,
                                   timestepSpacing: .uniformTrailing, guidanceRescale: 0.7, perFrameVAE: true,
                                   mode: .imageToVideo, outputFPS: 8, seed: 123),
        checkpoint: "dynamicrafter_1024_v1/model.ckpt")

    /// The reference YAML, as JSON. `baseScale` nil = the 256 yaml (no rescale keys at all).
    static func referenceJSON(latent: [Int], zeroSNR: Bool, baseScale: Double?, defaultFs: Int,
                              learnableGate: Bool, perframeAE: Bool?) -> String {
        let v = baseScale.map { """
            "rescale_betas_zero_snr": \(zeroSNR), "parameterization": "v",
            "use_dynamic_rescale": true, "base_scale": \($0), "fps_condition_type": "fps",
            """ } ?? ""
        let ae = perframeAE.map { "\"perframe_ae\": \($0)," } ?? ""
        let gate = learnableGate ? "\"image_cross_attention_scale_learnable\": true," : ""
        return """
        {"model": {"target": "lvdm.models.ddpm3d.LatentVisualDiffusion", "params": {
          \(v) \(ae)
          "linear_start": 0.00085, "linear_end": 0.012, "num_timesteps_cond": 1, "timesteps": 1000,
          "first_stage_key": "video", "cond_stage_key": "caption", "cond_stage_trainable": false,
          "conditioning_key": "hybrid", "image_size": [\(latent[0]), \(latent[1])], "channels": 4,
          "scale_by_std": false, "scale_factor": 0.18215, "use_ema": false, "uncond_type": "empty_seq",
          "unet_config": {"target": "lvdm.modules.networks.openaimodel3d.UNetModel", "params": {
            "in_channels": 8, "out_channels": 4, "model_channels": 320, "attention_resolutions": [4, 2, 1],
            "num_res_blocks": 2, "channel_mult": [1, 2, 4, 4], "dropout": 0.1, "num_head_channels": 64,
            "transformer_depth": 1, "context_dim": 1024, "use_linear": true, "use_checkpoint": true,
            "temporal_conv": true, "temporal_attention": true, "temporal_selfatt_only": true,
            "use_relative_position": false, "use_causal_attention": false, "temporal_length": 16,
            "addition_attention": true, "image_cross_attention": true, \(gate)
            "default_fs": \(defaultFs), "fs_condition": true}},
          "first_stage_config": {"target": "lvdm.models.autoencoder.AutoencoderKL", "params": {
            "embed_dim": 4, "monitor": "val/rec_loss",
            "ddconfig": {"double_z": true, "z_channels": 4, "resolution": 256, "in_channels": 3, "out_ch": 3,
              "ch": 128, "ch_mult": [1, 2, 4, 4], "num_res_blocks": 2, "attn_resolutions": [], "dropout": 0.0},
            "lossconfig": {"target": "torch.nn.Identity"}}},
          "cond_stage_config": {"target": "lvdm.modules.encoders.condition.FrozenOpenCLIPEmbedder",
            "params": {"freeze": true, "layer": "penultimate"}},
          "img_cond_stage_config": {"target": "lvdm.modules.encoders.condition.FrozenOpenCLIPImageEmbedderV2",
            "params": {"freeze": true}},
          "image_proj_stage_config": {"target": "lvdm.modules.encoders.resampler.Resampler", "params": {
            "dim": 1024, "depth": 4, "dim_head": 64, "heads": 12, "num_queries": 16, "embedding_dim": 1280,
            "output_dim": 1024, "ff_mult": 4, "video_length": 16}}
        }}}
        """
    }

    static func makeConfig(latent: [Int], zeroSNR: Bool, baseScale: Double?, defaultFs: Int,
                           learnableGate: Bool, perframeAE: Bool?) -> ModelConfig {
        let json = referenceJSON(latent: latent, zeroSNR: zeroSNR, baseScale: baseScale, defaultFs: defaultFs,
                                 learnableGate: learnableGate, perframeAE: perframeAE)
        do {
            return try ModelConfig.decode(json: Data(json.utf8))
        } catch {
            // The literals above are fixed; a failure here is a programming error caught by the tests.
            preconditionFailure("built-in preset configuration does not decode: \(error)")
        }
    }
}
