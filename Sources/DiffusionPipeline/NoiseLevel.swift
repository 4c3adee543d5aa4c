import Foundation

/// One noise level of the variance-preserving process, x_t = α·x₀ + σ·ε, as the multistep
/// solvers see it: α, σ and the half log-SNR λ = log α − log σ they step in.
public struct NoiseLevel: Sendable, Equatable {
    public let alpha: Double
    public let sigma: Double
    public let lambda: Double

    /// The smallest ᾱ a solver uses. A zero-terminal-SNR schedule ends at ᾱ = 0 (λ = −∞); diffusers
    /// puts 2⁻²⁴ there (`rescale_betas_zero_snr`), which keeps λ finite so that the step after the
    /// first still gets its second-order term. We do the same, to agree with it.
    public static let minimumAlphaCumprod = 0x1p-24

    /// The level of ᾱ (a float32 model buffer). Like diffusers, the noise-to-signal ratio
    /// √((1 − ᾱ)/ᾱ) is rounded to float32 before α and σ are derived from it.
    public init(alphaCumprod: Float) {
        let abar = max(Double(alphaCumprod), Self.minimumAlphaCumprod)
        let ratio = Double(Float(((1 - abar) / abar).squareRoot()))
        alpha = 1 / (ratio * ratio + 1).squareRoot()
        sigma = ratio * alpha
        lambda = Foundation.log(alpha) - Foundation.log(sigma)
    }
}
