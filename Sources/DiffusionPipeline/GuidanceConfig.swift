/// Classifier-free guidance settings.
///
/// `mo = out_uncond + scale·(out_cond − out_uncond)`; with `rescale` g > 0 (512 / 1024 models,
/// 0.7) the result is then pulled towards the conditional output's spread:
/// `mo = g·mo·σ(out_cond)/σ(mo) + (1 − g)·mo`, σ being the per-sample standard deviation over all
/// non-batch elements with Bessel's correction. Both values are Python floats in the reference and
/// meet float32 tensors as float32, which `scaleFactor`, `rescaleFactor` and
/// `rescaleComplement` reproduce.
public struct GuidanceConfig: Sendable, Equatable {
    /// The guidance scale s (7.5 in DynamiCrafter). 1 disables guidance (the unconditional output
    /// is then not needed and not used).
    public let scale: Double
    /// The guidance rescale factor g in [0, 1] (0 disables it).
    public let rescale: Double
    /// A separate image guidance scale sᵢ (the reference's `--multiple_cond_cfg --cfg_img`):
    /// `mo = u + sᵢ·(uᵢ − u) + s·(c − uᵢ)` with uᵢ the output for the image and an empty prompt.
    /// nil: plain guidance. Ignored when `scale` is 1 (no guidance at all, as in the reference).
    public let imageScale: Double?

    public init(scale: Double = 7.5, rescale: Double = 0, imageScale: Double? = nil) throws {
        guard scale.isFinite, rescale.isFinite, (0...1).contains(rescale), imageScale?.isFinite ?? true else {
            throw DiffusionScheduleError.invalidGuidance(scale: scale, rescale: rescale)
        }
        self.scale = scale
        self.rescale = rescale
        self.imageScale = imageScale
    }

    /// No guidance: the conditional output is used as is.
    public static let none = try! GuidanceConfig(scale: 1, rescale: 0)

    /// Whether the reference runs the unconditional branch (`scale != 1`).
    public var usesUnconditional: Bool { scale != 1 }
    /// Whether the image-only branch (text emptied, image kept) is run.
    public var usesImageOnly: Bool { usesUnconditional && imageScale != nil }

    /// Whether guidance rescale applies (`rescale > 0`, and only together with guidance).
    public var usesRescale: Bool { usesUnconditional && rescale > 0 }

    var scaleFactor: Float { Float(scale) }
    var imageScaleFactor: Float { Float(imageScale ?? scale) }
    var rescaleFactor: Float { Float(rescale) }
    /// `1 − g` computed in float64 (as Python does) before the float32 rounding.
    var rescaleComplement: Float { Float(1 - rescale) }
}
