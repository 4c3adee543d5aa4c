import Foundation
import TensorCore
import TensorStorage
import Weights

/// `lvdm.modules.attention.CrossAttention` as the DynamiCrafter UNet uses it: `to_q/k/v` without
/// bias, `to_out.0` with bias, heads as consecutive chunks of `headDim` channels. With image
/// cross-attention the context's first `textContextLength` (77) tokens feed `to_k/to_v` and the
/// rest `to_k_ip/to_v_ip`; the two softmaxes are separate and
/// `out = attn(text) + attn(image) · g`, `g = tanh(alpha) + 1` (learnable gate) or 1.
public struct CrossAttention: Sendable {
    public let heads: Int
    public let headDim: Int
    public let toQ: Linear
    public let toK: Linear
    public let toV: Linear
    public let toKIP: Linear?
    public let toVIP: Linear?
    public let toOut: Linear
    /// The factor of the image branch (nil without image cross-attention).
    public let imageGate: Float?
    public let textContextLength: Int
    let backend: any ComputeBackend
    let precision: Precision

    /// `contextDim` nil makes a self-attention (keys and values from `x`).
    public init(_ parameters: ParameterSource, queryDim: Int, contextDim: Int?, heads: Int, headDim: Int,
                imageCrossAttention: Bool = false, learnableImageScale: Bool = false,
                textContextLength: Int = 77, context: ComputeContext) throws {
        let inner = heads * headDim
        let kvDim = contextDim ?? queryDim
        self.heads = heads
        self.headDim = headDim
        self.textContextLength = textContextLength
        toQ = try Linear(parameters.scoped("to_q"), inFeatures: queryDim, outFeatures: inner, bias: false, context: context)
        toK = try Linear(parameters.scoped("to_k"), inFeatures: kvDim, outFeatures: inner, bias: false, context: context)
        toV = try Linear(parameters.scoped("to_v"), inFeatures: kvDim, outFeatures: inner, bias: false, context: context)
        toOut = try Linear(parameters.scoped("to_out.0"), inFeatures: inner, outFeatures: queryDim, context: context)
        if imageCrossAttention && contextDim != nil {
            toKIP = try Linear(parameters.scoped("to_k_ip"), inFeatures: kvDim, outFeatures: inner, bias: false, context: context)
            toVIP = try Linear(parameters.scoped("to_v_ip"), inFeatures: kvDim, outFeatures: inner, bias: false, context: context)
            if learnableImageScale {
                // A 0-dim parameter in the checkpoints (`nn.Parameter(torch.tensor(0.))`); a
                // one-element vector is read the same way (the manifest check flags it).
                let shape = parameters.storedShape("alpha") == [1] ? [1] : []
                let alpha = try parameters.floats("alpha", shape: shape).scalars[0]
                imageGate = Float(tanh(Double(alpha))) + 1
            } else {
                imageGate = 1
            }
        } else {
            toKIP = nil
            toVIP = nil
            imageGate = nil
        }
        backend = context.backend
        precision = context.attentionPrecision
    }

    /// `x` `[N, L, queryDim]`; `context` `[N, Lc, contextDim]` or nil for self-attention.
    public func callAsFunction(_ x: Tensor, context: Tensor? = nil) throws -> Tensor {
        try toOut.callAsFunction(attend(x, context: context))
    }

    /// `residual ← residual + self(x, context)`: the output projection adds into the residual.
    public func callAsFunction(_ x: Tensor, context: Tensor? = nil, addingTo residual: inout Tensor) throws {
        try toOut.callAsFunction(attend(x, context: context), addingTo: &residual)
    }

    /// Everything before the output projection.
    private func attend(_ x: Tensor, context: Tensor?) throws -> Tensor {
        let scale = 1 / Float(headDim).squareRoot()
        let q = try toQ.callAsFunction(x)
        var out: Tensor
        if let context, let toKIP, let toVIP, let gate = imageGate {
            let lc = context.shape[1]
            let textLen = min(textContextLength, lc)
            let text = try context.sliced(along: 1, range: 0 ..< textLen)
            let k = try toK.callAsFunction(text), v = try toV.callAsFunction(text)
            out = try backend.attention(q: q, k: k, v: v, heads: heads, scale: scale, precision: precision)
            if lc > textLen {
                let image = try context.sliced(along: 1, range: textLen ..< lc)
                let kIP = try toKIP.callAsFunction(image), vIP = try toVIP.callAsFunction(image)
                let outIP = try backend.attention(q: q, k: kIP, v: vIP, heads: heads, scale: scale, precision: precision)
                try Kernels.addScaledInPlace(&out, outIP, scale: gate)
            }
        } else {
            let kv = context ?? x
            let k = try toK.callAsFunction(kv), v = try toV.callAsFunction(kv)
            out = try backend.attention(q: q, k: k, v: v, heads: heads, scale: scale, precision: precision)
        }
        return out
    }
}
