import TensorCore
import TensorStorage

/// The UNet's `ResBlock` with its temporal convolution block (`temopral_conv`, sic):
/// `h = conv(SiLU(GN(x)))`, `h += Linear(SiLU(emb))` per frame, `h = conv(SiLU(GN(h)))`,
/// `h = skip(x) + h`; then four stages `GN → SiLU → Conv3d (3,1,1)` with frame-joint GroupNorm,
/// `h = h + stages(h)`.
public struct ResBlock: Sendable {
    public let inNorm: GroupNorm
    public let inConv: Conv2d
    public let embLinear: Linear
    public let outNorm: GroupNorm
    public let outConv: Conv2d
    public let skip: Conv2d?
    public let temporalNorms: [GroupNorm]
    public let temporalConvs: [Conv2d]

    public init(_ parameters: ParameterSource, inChannels: Int, outChannels: Int, embChannels: Int,
                temporalConv: Bool, context: ComputeContext) throws {
        inNorm = try GroupNorm(parameters.scoped("in_layers.0"), channels: inChannels, eps: 1e-5)
        inConv = try Conv2d(parameters.scoped("in_layers.2"), inChannels: inChannels, outChannels: outChannels,
                            kernel: 3, padding: 1, context: context)
        embLinear = try Linear(parameters.scoped("emb_layers.1"), inFeatures: embChannels, outFeatures: outChannels,
                               context: context)
        outNorm = try GroupNorm(parameters.scoped("out_layers.0"), channels: outChannels, eps: 1e-5)
        outConv = try Conv2d(parameters.scoped("out_layers.3"), inChannels: outChannels, outChannels: outChannels,
                             kernel: 3, padding: 1, context: context)
        skip = inChannels == outChannels ? nil
            : try Conv2d(parameters.scoped("skip_connection"), inChannels: inChannels, outChannels: outChannels,
                         kernel: 1, context: context)
        var norms: [GroupNorm] = [], convs: [Conv2d] = []
        if temporalConv {
            let tc = parameters.scoped("temopral_conv")
            for stage in 1 ... 4 {
                let convIndex = stage == 1 ? 2 : 3
                norms.append(try GroupNorm(tc.scoped("conv\(stage).0"), channels: outChannels, eps: 1e-5))
                convs.append(try Conv2d(tc.scoped("conv\(stage).\(convIndex)"), inChannels: outChannels,
                                        outChannels: outChannels, stored: [outChannels, outChannels, 3, 1, 1],
                                        geometry: .temporal3, context: context))
            }
        }
        temporalNorms = norms
        temporalConvs = convs
    }

    /// `x` `[B·T, H, W, Cin]`, `emb` `[B·T, E]` → `[B·T, H, W, Cout]`.
    public func callAsFunction(_ x: Tensor, emb: Tensor, batch: Int) throws -> Tensor {
        var h = try inConv.callAsFunction(inNorm.callAsFunction(x, silu: true))
        let e = try embLinear.callAsFunction(Kernels.silu(emb))
        try Kernels.addPerSampleInPlace(&h, e)
        let normed = try outNorm.callAsFunction(h, silu: true)
        if let skip {
            // The projected skip is a fresh tensor: the last convolution adds into it as it writes.
            h = try skip.callAsFunction(x)
            try outConv.callAsFunction(normed, addingTo: &h)
        } else {
            h = try outConv.callAsFunction(normed)
            try Kernels.addInPlace(&h, x)
        }
        guard !temporalConvs.isEmpty else { return h }
        let shape = h.shape
        let n = shape[0], c = shape[3], s = shape[1] * shape[2], t = n / batch
        // `video` is the only reference to these values, so the last temporal convolution
        // adds the residual into it in place.
        var video = try (consume h).reshaped([batch, t, s, c])
        var y = video
        for (index, (norm, conv)) in zip(temporalNorms, temporalConvs).enumerated() {
            let normed = try norm.callAsFunction(y.reshaped([batch, t * s, c]), silu: true).reshaped([batch, t, s, c])
            if index == temporalConvs.count - 1 {
                y = Tensor(zeros: [0])
                try conv.callAsFunction(normed, addingTo: &video)
            } else {
                y = try conv.callAsFunction(normed)
            }
        }
        return try video.reshaped(shape)
    }
}
