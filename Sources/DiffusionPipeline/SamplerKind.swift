/// Which algorithm turns the network's outputs into the next latent.
public enum SamplerKind: String, Sendable, Hashable, CaseIterable {
    /// The reference's DDIM (`eta` sets its fresh noise per step). The default, 50 steps.
    case ddim
    /// DPM-Solver++(2M): second-order multistep in data-prediction form, deterministic.
    case dpmpp2m = "dpmpp-2m"
    /// UniPC (bh2) predictor with its corrector, second order, deterministic.
    case unipc

    /// The names as users type them, for messages and help.
    public static var names: String { allCases.map(\.rawValue).joined(separator: ", ") }
}

extension SamplerKind {
    /// The sampler named `name`; `AnimationError.invalidOption` naming the allowed ones otherwise.
    public init(named name: String) throws {
        guard let kind = SamplerKind(rawValue: name) else {
            throw AnimationError.invalidOption(name: "sampler", value: name, allowed: Self.names)
        }
        self = kind
    }
}
