/// What the denoising network predicts.
public enum Parameterization: String, Sendable, Hashable, CaseIterable {
    /// The noise ε (DynamiCrafter 256).
    case eps
    /// The velocity v = √ᾱ·ε − √(1−ᾱ)·x₀ (DynamiCrafter 512 / 1024).
    case v
}
