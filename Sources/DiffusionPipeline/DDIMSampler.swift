import TensorCore
import TensorStorage

/// The DDIM update of the reference's `p_sample_ddim`, independent of the network.
///
/// Per step (DDIM index k, timestep t), all in float32 and in the reference's order:
/// 1. guidance: `mo = u + s·(c − u)`; with rescale g: `mo = g·(mo·(σ_c/σ_mo)) + (1−g)·mo`
///    (σ per sample over all non-batch elements, N − 1 in the denominator);
/// 2. ε-models: `e = mo`, `x̂₀ = (x − √(1−a_t)·e)/√a_t`;
///    v-models: `e = A·mo + B·x`, `x̂₀ = A·x − B·mo` with A, B the model buffers at t;
/// 3. dynamic rescale: `x̂₀ = x̂₀·(scale_prev/scale)`;
/// 4. `x ← (√a_prev·x̂₀ + √(1−a_prev−σ²)·e) + σ·ε`.
///
/// The building blocks (`guidedOutput`, `epsilonAndPredictedX0`, `previousSample`) return each
/// stage for inspection and tests; `step` fuses all stages into one pass that overwrites x in
/// place and allocates nothing. Both evaluate the same float32 operations in the same order, so
/// they agree bit for bit. Tensors are [B, …] (the latent is [B, 4, T, h, w]); the scalars are
/// shared by the whole batch.
public struct DDIMSampler: Sendable {
    public let schedule: DDIMSchedule
    public let parameterization: Parameterization
    public let guidance: GuidanceConfig

    /// Throws `DiffusionScheduleError.epsilonPredictionAtZeroSNR` for an ε-model on a schedule
    /// that visits a timestep with ᾱ = 0 (x̂₀ would be a division by zero).
    public init(schedule: DDIMSchedule, parameterization: Parameterization, guidance: GuidanceConfig) throws {
        if parameterization == .eps, let k = schedule.alphas.firstIndex(of: 0) {
            throw DiffusionScheduleError.epsilonPredictionAtZeroSNR(timestep: schedule.timesteps[k])
        }
        self.schedule = schedule
        self.parameterization = parameterization
        self.guidance = guidance
    }

    // MARK: - Building blocks

    /// The guided model output `model_out_cfg` (classifier-free guidance and, when configured,
    /// guidance rescale). Without guidance this is the conditional output unchanged.
    public func guidedOutput(_ prediction: NoisePrediction) throws -> Tensor {
        let shape = prediction.conditional.shape
        let (batch, perSample) = try Self.batchLayout(shape, needsTwo: guidance.usesRescale)
        guard guidance.usesUnconditional else { return prediction.conditional }
        let uncond = try unconditional(of: prediction, shape: shape, index: -1)
        let imageOnly = try self.imageOnly(of: prediction, shape: shape, index: -1)
        let combine = GuidanceCombination(guidance)
        let factors = guidanceRescaleFactors(prediction.conditional, uncond, imageOnly, batch: batch, perSample: perSample)
        return Tensor(shape: shape) { out in
            prediction.conditional.withUnsafeBufferPointer { c in
                uncond.withUnsafeBufferPointer { u in
                    Self.withOptionalBuffer(imageOnly) { ui in
                        for b in 0..<batch {
                            let base = b * perSample
                            Lanes.forEach(count: perSample) { i, n in
                                let at = base + i
                                var mo = combine.apply(Lanes.load(c, at, n), Lanes.load(u, at, n), ui.map { Lanes.load($0, at, n) })
                                if let r = factors?[b] { mo = r.apply(mo) }
                                Lanes.store(mo, out, at, n)
                            }
                        }
                    }
                }
            }
        }
    }

    /// ε and x̂₀ (after dynamic rescale, as `p_sample_ddim` returns it) from the guided output.
    public func epsilonAndPredictedX0(modelOutput: Tensor, x: Tensor, index: Int) throws -> (epsilon: Tensor, predictedX0: Tensor) {
        let coefficients = try self.coefficients(at: index)
        try Self.requireShape(modelOutput.shape, "model output", like: x.shape)
        let scalars = StepScalars(coefficients, parameterization)
        var epsilon = Tensor(zeros: x.shape)
        var predicted = Tensor(zeros: x.shape)
        epsilon.withUnsafeMutableBufferPointer { e in
            predicted.withUnsafeMutableBufferPointer { p in
                modelOutput.withUnsafeBufferPointer { mo in
                    x.withUnsafeBufferPointer { xs in
                        Lanes.forEach(count: xs.count) { i, n in
                            let (ev, pv) = scalars.epsilonAndX0(Lanes.load(mo, i, n), Lanes.load(xs, i, n))
                            Lanes.store(ev, e, i, n)
                            Lanes.store(pv, p, i, n)
                        }
                    }
                }
            }
        }
        return (epsilon, predicted)
    }

    /// `x_prev = (√a_prev·x̂₀ + √(1−a_prev−σ²)·ε) + σ·noise`.
    public func previousSample(predictedX0: Tensor, epsilon: Tensor, noise: Tensor, index: Int) throws -> Tensor {
        let coefficients = try self.coefficients(at: index)
        try Self.requireShape(epsilon.shape, "epsilon", like: predictedX0.shape)
        try Self.requireShape(noise.shape, "noise", like: predictedX0.shape)
        let scalars = StepScalars(coefficients, parameterization)
        return Tensor(shape: predictedX0.shape) { out in
            predictedX0.withUnsafeBufferPointer { p in
                epsilon.withUnsafeBufferPointer { e in
                    noise.withUnsafeBufferPointer { z in
                        Lanes.forEach(count: out.count) { i, n in
                            Lanes.store(scalars.update(Lanes.load(p, i, n), Lanes.load(e, i, n), Lanes.load(z, i, n)), out, i, n)
                        }
                    }
                }
            }
        }
    }

    // MARK: - Fused step

    /// One whole DDIM step for DDIM index `index`, in place: x becomes x_prev. `noise` is this
    /// step's standard normal draw (same shape as x). When `predictedX0` is non-nil it receives
    /// x̂₀ (it must already have x's shape; it is written in place).
    public func step(_ x: inout Tensor, prediction: NoisePrediction, noise: Tensor, index: Int,
                     predictedX0: inout Tensor?) throws {
        let coefficients = try self.coefficients(at: index)
        let shape = x.shape
        let (batch, perSample) = try Self.batchLayout(shape, needsTwo: guidance.usesRescale)
        try Self.requireShape(prediction.conditional.shape, "conditional output", like: shape)
        try Self.requireShape(noise.shape, "noise", like: shape)
        if let p = predictedX0 { try Self.requireShape(p.shape, "predicted x0 buffer", like: shape) }
        let uncond: Tensor? = guidance.usesUnconditional
            ? try unconditional(of: prediction, shape: shape, index: index) : nil
        let imageOnly = try self.imageOnly(of: prediction, shape: shape, index: index)
        let factors = uncond.flatMap { guidanceRescaleFactors(prediction.conditional, $0, imageOnly, batch: batch, perSample: perSample) }
        let scalars = StepScalars(coefficients, parameterization)
        let combine = GuidanceCombination(guidance)

        var x0Buffer = predictedX0
        predictedX0 = nil  // keep the buffer uniquely referenced while we write it
        defer { predictedX0 = x0Buffer }
        x.withUnsafeMutableBufferPointer { xs in
            prediction.conditional.withUnsafeBufferPointer { c in
                noise.withUnsafeBufferPointer { z in
                    Self.withOptionalBuffer(uncond) { u in
                      Self.withOptionalBuffer(imageOnly) { ui in
                        Self.withOptionalMutableBuffer(&x0Buffer) { p in
                            for b in 0..<batch {
                                let base = b * perSample
                                let rescale = factors?[b]
                                Lanes.forEach(count: perSample) { i, n in
                                    let at = base + i
                                    let cv = Lanes.load(c, at, n)
                                    var mo = cv
                                    if let u { mo = combine.apply(cv, Lanes.load(u, at, n), ui.map { Lanes.load($0, at, n) }) }
                                    if let rescale { mo = rescale.apply(mo) }
                                    let xv = Lanes.load(xs, at, n)
                                    let (ev, pv) = scalars.epsilonAndX0(mo, xv)
                                    if let p { Lanes.store(pv, p, at, n) }
                                    Lanes.store(scalars.update(pv, ev, Lanes.load(z, at, n)), xs, at, n)
                                }
                            }
                        }
                      }
                    }
                }
            }
        }
    }

    // MARK: - Helpers

    func coefficients(at index: Int) throws -> DDIMStepCoefficients {
        guard schedule.timesteps.indices.contains(index) else {
            throw DDIMSamplerError.indexOutOfRange(index, count: schedule.count)
        }
        return schedule.coefficients(at: index)
    }

    private func unconditional(of prediction: NoisePrediction, shape: [Int], index: Int) throws -> Tensor {
        guard let uncond = prediction.unconditional else { throw DDIMSamplerError.missingUnconditional(index: index) }
        try Self.requireShape(uncond.shape, "unconditional output", like: shape)
        return uncond
    }

    private func imageOnly(of prediction: NoisePrediction, shape: [Int], index: Int) throws -> Tensor? {
        guard guidance.usesImageOnly else { return nil }
        guard let imageOnly = prediction.imageOnly else { throw DDIMSamplerError.missingImageOnly(index: index) }
        try Self.requireShape(imageOnly.shape, "image-only output", like: shape)
        return imageOnly
    }

    /// Per sample, the factors of `g·(mo·(σ_c/σ_mo)) + (1−g)·mo`, or nil when rescale is off.
    private func guidanceRescaleFactors(_ cond: Tensor, _ uncond: Tensor, _ imageOnly: Tensor?,
                                        batch: Int, perSample: Int) -> [RescaleFactors]? {
        guard guidance.usesRescale else { return nil }
        let combine = GuidanceCombination(guidance)
        let g = guidance.rescaleFactor
        let h = guidance.rescaleComplement
        return cond.withUnsafeBufferPointer { c in
            uncond.withUnsafeBufferPointer { u in
                Self.withOptionalBuffer(imageOnly) { ui in
                    (0..<batch).map { b in
                        let base = b * perSample
                        let sigmaCond = Statistics.sampleStandardDeviation(count: perSample) { i, n in Lanes.load(c, base + i, n) }
                        let sigmaGuided = Statistics.sampleStandardDeviation(count: perSample) { i, n in
                            combine.apply(Lanes.load(c, base + i, n), Lanes.load(u, base + i, n), ui.map { Lanes.load($0, base + i, n) })
                        }
                        return RescaleFactors(ratio: sigmaCond / sigmaGuided, g: g, complement: h)
                    }
                }
            }
        }
    }

    static func batchLayout(_ shape: [Int], needsTwo: Bool) throws -> (batch: Int, perSample: Int) {
        guard let batch = shape.first, batch >= 1 else { throw DDIMSamplerError.invalidLatentShape(shape) }
        let perSample = shape.dropFirst().reduce(1, *)
        guard perSample >= (needsTwo ? 2 : 1) else { throw DDIMSamplerError.invalidLatentShape(shape) }
        return (batch, perSample)
    }

    static func requireShape(_ shape: [Int], _ what: String, like expected: [Int]) throws {
        guard shape == expected else { throw DDIMSamplerError.shapeMismatch(what: what, expected: expected, got: shape) }
    }

    private static func withOptionalBuffer<R>(_ tensor: Tensor?, _ body: (UnsafeBufferPointer<Float>?) -> R) -> R {
        guard let tensor else { return body(nil) }
        return tensor.withUnsafeBufferPointer { body($0) }
    }

    private static func withOptionalMutableBuffer<R>(_ tensor: inout Tensor?, _ body: (UnsafeMutableBufferPointer<Float>?) -> R) -> R {
        guard var t = tensor else { return body(nil) }
        tensor = nil
        defer { tensor = t }
        return t.withUnsafeMutableBufferPointer { body($0) }
    }
}

/// The guided output from the branch outputs, in the reference's float32 operation order.
struct GuidanceCombination {
    let scale: SIMD8<Float>
    let imageScale: SIMD8<Float>?

    init(_ guidance: GuidanceConfig) {
        scale = SIMD8(repeating: guidance.scaleFactor)
        imageScale = guidance.usesImageOnly ? SIMD8(repeating: guidance.imageScaleFactor) : nil
    }

    /// `u + s·(c − u)`, or with image guidance `(u + sᵢ·(uᵢ − u)) + s·(c − uᵢ)`.
    @inline(__always) func apply(_ c: SIMD8<Float>, _ u: SIMD8<Float>, _ ui: SIMD8<Float>?) -> SIMD8<Float> {
        guard let imageScale, let ui else { return Lanes.guided(c, u, scale) }
        let imageTerm = imageScale * (ui - u)
        let textTerm = scale * (c - ui)
        return (u + imageTerm) + textTerm
    }
}

/// `g·(mo·r) + (1−g)·mo` with r = σ_c/σ_mo of one sample.
struct RescaleFactors {
    let ratio: SIMD8<Float>
    let g: SIMD8<Float>
    let complement: SIMD8<Float>

    init(ratio: Float, g: Float, complement: Float) {
        self.ratio = SIMD8(repeating: ratio)
        self.g = SIMD8(repeating: g)
        self.complement = SIMD8(repeating: complement)
    }

    @inline(__always) func apply(_ mo: SIMD8<Float>) -> SIMD8<Float> {
        let rescaled = mo * ratio
        return g * rescaled + complement * mo
    }
}

/// The float32 scalars of one step, broadcast to lanes, and the per-element formulas.
struct StepScalars {
    let parameterization: Parameterization
    let sqrtOneMinusAlpha: SIMD8<Float>
    let sqrtAlpha: SIMD8<Float>
    let a: SIMD8<Float>   // sqrt_alphas_cumprod[t] (v)
    let b: SIMD8<Float>   // sqrt_one_minus_alphas_cumprod[t] (v)
    let rescale: SIMD8<Float>?
    let sqrtAlphaPrev: SIMD8<Float>
    let direction: SIMD8<Float>
    let sigma: SIMD8<Float>

    init(_ c: DDIMStepCoefficients, _ parameterization: Parameterization) {
        self.parameterization = parameterization
        sqrtOneMinusAlpha = SIMD8(repeating: c.sqrtOneMinusAlpha)
        sqrtAlpha = SIMD8(repeating: c.alpha.squareRoot())
        a = SIMD8(repeating: c.sqrtAlphaCumprod)
        b = SIMD8(repeating: c.sqrtOneMinusAlphaCumprod)
        rescale = c.rescaleFactor.map { SIMD8(repeating: $0) }
        sqrtAlphaPrev = SIMD8(repeating: c.alphaPrev.squareRoot())
        direction = SIMD8(repeating: c.directionCoefficient)
        sigma = SIMD8(repeating: c.sigma)
    }

    @inline(__always) func epsilonAndX0(_ mo: SIMD8<Float>, _ x: SIMD8<Float>) -> (SIMD8<Float>, SIMD8<Float>) {
        var e: SIMD8<Float>
        var p: SIMD8<Float>
        switch parameterization {
        case .eps:
            e = mo
            let scaled = sqrtOneMinusAlpha * e
            p = (x - scaled) / sqrtAlpha
        case .v:
            let av = a * mo
            let bx = b * x
            e = av + bx
            let ax = a * x
            let bv = b * mo
            p = ax - bv
        }
        if let rescale { p = p * rescale }
        return (e, p)
    }

    @inline(__always) func update(_ p: SIMD8<Float>, _ e: SIMD8<Float>, _ noise: SIMD8<Float>) -> SIMD8<Float> {
        let first = sqrtAlphaPrev * p
        let dir = direction * e
        let random = sigma * noise
        return (first + dir) + random
    }
}

/// Eight-lane chunks with a zero-padded tail, so every element goes through the same SIMD code.
enum Lanes {
    @inline(__always) static func forEach(count: Int, _ body: (_ offset: Int, _ lanes: Int) -> Void) {
        var i = 0
        while i + 8 <= count {
            body(i, 8)
            i += 8
        }
        if i < count { body(i, count - i) }
    }

    @inline(__always) static func load(_ p: UnsafeBufferPointer<Float>, _ i: Int, _ n: Int) -> SIMD8<Float> {
        if n == 8 { return UnsafeRawPointer(p.baseAddress! + i).loadUnaligned(as: SIMD8<Float>.self) }
        var v = SIMD8<Float>()
        for j in 0..<n { v[j] = p[i + j] }
        return v
    }

    @inline(__always) static func load(_ p: UnsafeMutableBufferPointer<Float>, _ i: Int, _ n: Int) -> SIMD8<Float> {
        load(UnsafeBufferPointer(p), i, n)
    }

    @inline(__always) static func store(_ v: SIMD8<Float>, _ p: UnsafeMutableBufferPointer<Float>, _ i: Int, _ n: Int) {
        if n == 8 {
            UnsafeMutableRawPointer(p.baseAddress! + i).storeBytes(of: v, as: SIMD8<Float>.self)
            return
        }
        for j in 0..<n { p[i + j] = v[j] }
    }

    /// `u + s·(c − u)`.
    @inline(__always) static func guided(_ c: SIMD8<Float>, _ u: SIMD8<Float>, _ s: SIMD8<Float>) -> SIMD8<Float> {
        let difference = c - u
        let scaled = s * difference
        return u + scaled
    }
}

/// Reductions used by guidance rescale.
enum Statistics {
    /// Standard deviation with Bessel's correction, accumulated in float64 (two passes) and
    /// rounded to float32, as torch's CPU `std` does for float32 input. `chunk(i, n)` yields
    /// elements i ..< i+n (n ≤ 8; lanes past n are ignored).
    @inline(__always) static func sampleStandardDeviation(count: Int, _ chunk: (Int, Int) -> SIMD8<Float>) -> Float {
        var sum = 0.0
        Lanes.forEach(count: count) { i, n in
            let v = chunk(i, n)
            for j in 0..<n { sum += Double(v[j]) }
        }
        let mean = sum / Double(count)
        var squares = 0.0
        Lanes.forEach(count: count) { i, n in
            let v = chunk(i, n)
            for j in 0..<n {
                let d = Double(v[j]) - mean
                squares += d * d
            }
        }
        return Float((squares / Double(count - 1)).squareRoot())
    }
}
