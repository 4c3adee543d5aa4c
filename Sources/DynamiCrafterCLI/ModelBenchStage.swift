import ArgumentParser

/// One timed piece of the model benchmark.
enum ModelBenchStage: String, CaseIterable, Sendable, ExpressibleByArgument {
    /// One UNet forward with classifier-free guidance (cond and uncond as a batch of 2).
    case unet
    /// VAE decode of all frames as one batch.
    case vae
    /// VAE decode frame by frame (`perframe_ae`).
    case vaePerFrame = "vae-per-frame"
    /// CLIP preprocess + vision tower on one image.
    case vision
    /// The image-context Resampler on the vision tower's tokens.
    case resampler
    /// The text tower on one prompt.
    case text

    /// Stages that take minutes at full size: run `--repeats` times after `--warmups`.
    var isLarge: Bool { self == .unet || self == .vae || self == .vaePerFrame }

    /// The component it needs resident.
    var component: ModelBenchComponent {
        switch self {
        case .unet: .unet
        case .vae, .vaePerFrame: .vae
        case .vision: .vision
        case .resampler: .resampler
        case .text: .text
        }
    }
}

/// The parts of the model, in the order they are built.
enum ModelBenchComponent: String, CaseIterable, Sendable {
    case unet, vae, text, vision, resampler
}
