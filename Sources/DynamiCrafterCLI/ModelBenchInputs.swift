import DynamiCrafterModel
import TensorCore
import TensorStorage

/// The inputs of each stage at the configuration's real sizes (for the 256 model: 16 frames of
/// 32×32 latents, a 256×256 image, a 77-token prompt), filled with deterministic noise of unit
/// variance. Timing does not depend on the values.
struct ModelBenchInputs {
    /// UNet input `[2, inChannels, T, h, w]` (cond and uncond as one batch).
    let unetX: Tensor
    /// `[2, 77 + image tokens, contextDim]`.
    let unetContext: Tensor
    let timesteps: [Int]
    let fs: [Int]
    /// The video latent `[1, z, T, h, w]` as the VAE sees it: T frames `[T, z, h, w]`.
    let latentFrames: Tensor
    /// One image `[1, 3, H, W]` in [-1, 1] (before the CLIP preprocess).
    let image: Tensor
    /// One prompt's token ids: start, a few words, end, zero padding.
    let tokens: [[Int32]]
    /// Frames per video.
    let frames: Int

    init(config: ModelConfig, frameStride: Int?) throws {
        let p = config.params
        let u = p.unetConfig.params
        frames = u.temporalLength ?? 16
        guard p.imageSize.count == 2 else {
            throw ModelBenchError("image_size must have two entries, got \(p.imageSize)")
        }
        let h = p.imageSize[0], w = p.imageSize[1]
        let resampler = Resampler.Configuration(p.imageProjStageConfig.params)
        let contextLength = UNet.textContextLength + resampler.latentCount
        unetX = Self.noise([2, u.inChannels, frames, h, w], seed: 1)
        unetContext = Self.noise([2, contextLength, u.contextDim ?? u.modelChannels], seed: 2)
        // The middle of the schedule, as the reference timings used.
        timesteps = [501, 501]
        let stride = frameStride ?? u.defaultFs ?? 3
        fs = [stride, stride]
        let vae = VAE.Configuration(p.firstStageConfig.params, scaleFactor: p.scaleFactor)
        latentFrames = Self.noise([frames, vae.embedDim, h, w], seed: 3)
        let f = vae.downsampleFactor
        image = Self.uniform([1, 3, h * f, w * f], seed: 4, halfWidth: 1)
        let text = try config.textEncoderArchitecture().textCfg
        // <start_of_text>, "a photo of a cat" as in the reference vocabulary, <end_of_text>.
        let words: [Int32] = [49406, 320, 1125, 539, 320, 2368, 49407]
        tokens = [(0..<text.contextLength).map { i in
            i < words.count ? min(words[i], Int32(text.vocabSize - 1)) : 0
        }]
    }

    /// Uniform noise with unit variance.
    static func noise(_ shape: [Int], seed: UInt64) -> Tensor {
        uniform(shape, seed: seed, halfWidth: 1.7320508)
    }

    /// Uniform in [-halfWidth, halfWidth) from a 64-bit LCG.
    static func uniform(_ shape: [Int], seed: UInt64, halfWidth: Float) -> Tensor {
        var state = seed &* 0x9e37_79b9_7f4a_7c15
        return Tensor(shape: shape) { p in
            for i in p.indices {
                state = state &* 6364136223846793005 &+ 1442695040888963407
                p[i] = halfWidth * (Float(state >> 40) * (2 / Float(1 << 24)) - 1)
            }
        }
    }
}
