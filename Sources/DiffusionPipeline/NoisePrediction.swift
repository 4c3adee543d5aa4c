import TensorCore

/// The network's outputs for one DDIM step: the conditional output and, when guidance is on,
/// the unconditional one (same shape as x, [B, C, T, h, w]). They are ε or v depending on the
/// model's `Parameterization`.
public struct NoisePrediction: Sendable {
    public var conditional: Tensor
    public var unconditional: Tensor?

    public init(conditional: Tensor, unconditional: Tensor?) {
        self.conditional = conditional
        self.unconditional = unconditional
    }
}
