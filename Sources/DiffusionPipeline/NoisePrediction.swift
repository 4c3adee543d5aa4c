import TensorCore
import TensorStorage

/// The network's outputs for one DDIM step: the conditional output and, when guidance is on,
/// the unconditional one (same shape as x, [B, C, T, h, w]). They are ε or v depending on the
/// model's `Parameterization`.
///
/// With separate text and image guidance (`GuidanceConfig.imageScale`, the reference's
/// `DDIMSampler_multicond`) a third output is needed: the network with the image kept and the
/// text emptied (`unconditional_conditioning_img_nonetext`).
public struct NoisePrediction: Sendable {
    public var conditional: Tensor
    public var unconditional: Tensor?
    /// Output with the image condition and an empty prompt (multi-condition guidance only).
    public var imageOnly: Tensor?

    public init(conditional: Tensor, unconditional: Tensor?, imageOnly: Tensor? = nil) {
        self.conditional = conditional
        self.unconditional = unconditional
        self.imageOnly = imageOnly
    }
}
