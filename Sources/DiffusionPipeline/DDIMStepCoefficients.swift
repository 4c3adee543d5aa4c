/// The float32 scalars one DDIM step uses, exactly as the reference rounds them
/// (`torch.full(size, value)` of each per-index schedule value).
public struct DDIMStepCoefficients: Sendable, Equatable {
    /// DDIM index k (ascending timesteps); the sampler visits k = count−1 … 0.
    public let index: Int
    /// The training timestep t = timesteps[k] passed to the network.
    public let timestep: Int
    /// a_t = ᾱ_f32[t].
    public let alpha: Float
    /// a_prev = ᾱ_f32[timesteps[k−1]], or ᾱ_f32[0] at k = 0.
    public let alphaPrev: Float
    /// σ_t (eta-scaled DDIM variance), float64 rounded to float32.
    public let sigma: Float
    /// √(1 − a_t), computed in float32.
    public let sqrtOneMinusAlpha: Float
    /// The model buffers `sqrt_alphas_cumprod[t]` and `sqrt_one_minus_alphas_cumprod[t]` used by
    /// v-prediction.
    public let sqrtAlphaCumprod: Float
    public let sqrtOneMinusAlphaCumprod: Float
    /// Dynamic rescale `scale_arr[t]` and its predecessor (nil when dynamic rescale is off).
    public let scale: Float?
    public let scalePrev: Float?

    public init(index: Int, timestep: Int, alpha: Float, alphaPrev: Float, sigma: Float, sqrtOneMinusAlpha: Float,
                sqrtAlphaCumprod: Float, sqrtOneMinusAlphaCumprod: Float, scale: Float?, scalePrev: Float?) {
        self.index = index
        self.timestep = timestep
        self.alpha = alpha
        self.alphaPrev = alphaPrev
        self.sigma = sigma
        self.sqrtOneMinusAlpha = sqrtOneMinusAlpha
        self.sqrtAlphaCumprod = sqrtAlphaCumprod
        self.sqrtOneMinusAlphaCumprod = sqrtOneMinusAlphaCumprod
        self.scale = scale
        self.scalePrev = scalePrev
    }

    /// √(1 − a_prev − σ²) evaluated in float32 in the reference's order; the coefficient of ε in
    /// the update ("direction pointing to x_t").
    ///
    /// At a_t = 0 (the last timestep of a zero-terminal-SNR schedule) with eta = 1, 1 − a_prev − σ²
    /// is 0 in exact arithmetic and float32 rounding can make it a hair negative (e.g. 25 trailing
    /// steps), where the reference takes the square root of a negative number and turns the whole
    /// latent into NaN. We use 0 there instead; `DDIMSchedule` rejects anything more negative than
    /// rounding can explain.
    public var directionCoefficient: Float {
        let radicand = (1 - alphaPrev) - sigma * sigma
        return radicand > 0 ? radicand.squareRoot() : 0
    }

    /// 1 − a_prev − σ² (float32); negative only through rounding when eta ≤ 1.
    public var directionRadicand: Float { (1 - alphaPrev) - sigma * sigma }

    /// `scale_prev / scale` (float32), the dynamic-rescale factor applied to pred_x0.
    public var rescaleFactor: Float? {
        guard let scale, let scalePrev else { return nil }
        return scalePrev / scale
    }
}
