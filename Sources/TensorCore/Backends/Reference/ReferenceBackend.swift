import TensorStorage

#if canImport(Glibc)
import Glibc
#endif

/// Plain loops over the reference layouts: no packing, no tiling, no threads. Slow and easy to
/// read; every optimised backend is tested against it.
public struct ReferenceBackend: ComputeBackend {
    public init() {}

    public var kind: BackendKind { .reference }
    public var summary: String { "reference loops (single thread)" }
    public var nativeBF16: Bool { false }

    public func makeLinear(weight: TensorData, bias: TensorData?, precision: Precision) throws -> any LinearOperator {
        try ReferenceLinear(weight: weight, bias: bias, precision: precision)
    }

    public func makeConv2d(weight: TensorData, bias: TensorData?, geometry: Conv2dGeometry,
                           precision: Precision, algorithm: ConvAlgorithm) throws -> any Conv2dOperator {
        try ReferenceConv2d(weight: weight, bias: bias, geometry: geometry, precision: precision)
    }

    public func matmul(_ a: Tensor, _ b: Tensor, transposeA: Bool, transposeB: Bool,
                       alpha: Float, precision: Precision) throws -> Tensor {
        let p = try MatmulProblem(a.shape, b.shape, transposeA: transposeA, transposeB: transposeB)
        let a = precision == .bf16 ? Kernels.roundedToBF16(a) : a
        let b = precision == .bf16 ? Kernels.roundedToBF16(b) : b
        var out = Tensor(zeros: p.outputShape)
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                out.withUnsafeMutableBufferPointer { pc in
                    for bi in 0..<p.batch {
                        GEMMKernel.reference.run(
                            transposeA, transposeB, p.m, p.n, p.k, alpha,
                            pa.baseAddress! + bi * p.m * p.k, transposeA ? p.m : p.k,
                            pb.baseAddress! + bi * p.k * p.n, transposeB ? p.k : p.n,
                            0, pc.baseAddress! + bi * p.m * p.n, p.n)
                    }
                }
            }
        }
        return out
    }

    public func attention(q: Tensor, k: Tensor, v: Tensor, heads: Int, scale: Float,
                          precision: Precision) throws -> Tensor {
        let s = try AttentionProblem(q: q.shape, k: k.shape, v: v.shape, heads: heads)
        let q = precision == .bf16 ? Kernels.roundedToBF16(q) : q
        let k = precision == .bf16 ? Kernels.roundedToBF16(k) : k
        let v = precision == .bf16 ? Kernels.roundedToBF16(v) : v
        var out = Tensor(zeros: q.shape)
        let width = s.heads * s.headDim
        q.withUnsafeBufferPointer { pq in
            k.withUnsafeBufferPointer { pk in
                v.withUnsafeBufferPointer { pv in
                    out.withUnsafeMutableBufferPointer { po in
                        var scores = [Float](repeating: 0, count: s.keyLength)
                        for b in 0..<s.batch {
                            for h in 0..<s.heads {
                                for i in 0..<s.queryLength {
                                    let qi = (b * s.queryLength + i) * width + h * s.headDim
                                    var maxScore = -Float.infinity
                                    for j in 0..<s.keyLength {
                                        let kj = (b * s.keyLength + j) * width + h * s.headDim
                                        var dot: Float = 0
                                        for d in 0..<s.headDim { dot += pq[qi + d] * pk[kj + d] }
                                        scores[j] = dot * scale
                                        maxScore = max(maxScore, scores[j])
                                    }
                                    var sum: Float = 0
                                    for j in 0..<s.keyLength {
                                        scores[j] = expf(scores[j] - maxScore)
                                        sum += scores[j]
                                        // bf16 units multiply bf16 probabilities by bf16 values;
                                        // the denominator stays fp32.
                                        if precision == .bf16 { scores[j] = HalfConversion.roundToBF16(scores[j]) }
                                    }
                                    for d in 0..<s.headDim {
                                        var acc: Float = 0
                                        for j in 0..<s.keyLength {
                                            acc += scores[j] * pv[(b * s.keyLength + j) * width + h * s.headDim + d]
                                        }
                                        po[qi + d] = acc / sum
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return out
    }
}

/// A Linear layer as loops over the unpacked weight.
struct ReferenceLinear: LinearOperator {
    let weight: Tensor // [out, in]
    let bias: Tensor?
    let precision: Precision
    var inFeatures: Int { weight.shape[1] }
    var outFeatures: Int { weight.shape[0] }

    init(weight: TensorData, bias: TensorData?, precision: Precision) throws {
        _ = try LinearShapes(weight: weight, bias: bias) // validates; the shapes live in `weight`
        var w = weight.toTensor()
        if precision == .bf16 { w = Kernels.roundedToBF16(w) }
        self.weight = w
        self.bias = bias?.toTensor()
        self.precision = precision
    }

    func callAsFunction(_ x: Tensor) throws -> Tensor {
        guard let last = x.shape.last, last == inFeatures else {
            throw TensorError.shapeMismatch("linear expects [..., \(inFeatures)], got \(Shape.describe(x.shape))")
        }
        let x = precision == .bf16 ? Kernels.roundedToBF16(x) : x
        let rows = x.count / inFeatures
        var out = Tensor(zeros: Array(x.shape.dropLast()) + [outFeatures])
        x.withUnsafeBufferPointer { px in
            weight.withUnsafeBufferPointer { pw in
                out.withUnsafeMutableBufferPointer { po in
                    GEMMKernel.reference.run(false, true, rows, outFeatures, inFeatures, 1,
                                             px.baseAddress!, inFeatures, pw.baseAddress!, inFeatures,
                                             0, po.baseAddress!, outFeatures)
                    if let bias {
                        bias.withUnsafeBufferPointer { pb in
                            for r in 0..<rows { for o in 0..<outFeatures { po[r * outFeatures + o] += pb[o] } }
                        }
                    }
                }
            }
        }
        return out
    }
}

/// A direct convolution as six nested loops over channels-last activations.
struct ReferenceConv2d: Conv2dOperator {
    let weight: Tensor // [out, in, kh, kw]
    let bias: Tensor?
    let geometry: Conv2dGeometry
    let precision: Precision
    var inChannels: Int { weight.shape[1] }
    var outChannels: Int { weight.shape[0] }
    var algorithm: ConvAlgorithm { .direct }

    init(weight: TensorData, bias: TensorData?, geometry: Conv2dGeometry, precision: Precision) throws {
        _ = try ConvShapes(weight: weight, bias: bias, geometry: geometry)
        var w = weight.toTensor()
        if precision == .bf16 { w = Kernels.roundedToBF16(w) }
        self.weight = w
        self.bias = bias?.toTensor()
        self.geometry = geometry
        self.precision = precision
    }

    func callAsFunction(_ x: Tensor) throws -> Tensor {
        let (n, h, w, ho, wo) = try ConvShapes.check(input: x.shape, inChannels: inChannels, geometry: geometry)
        let x = precision == .bf16 ? Kernels.roundedToBF16(x) : x
        let g = geometry, ci = inChannels, co = outChannels
        var out = Tensor(zeros: [n, ho, wo, co])
        x.withUnsafeBufferPointer { px in
            weight.withUnsafeBufferPointer { pw in
                out.withUnsafeMutableBufferPointer { po in
                    for b in 0..<n { for oy in 0..<ho { for ox in 0..<wo { for o in 0..<co {
                        var s: Float = 0
                        for ky in 0..<g.kernelH {
                            let iy = oy * g.strideH - g.padTop + ky
                            if iy < 0 || iy >= h { continue }
                            for kx in 0..<g.kernelW {
                                let ix = ox * g.strideW - g.padLeft + kx
                                if ix < 0 || ix >= w { continue }
                                for c in 0..<ci {
                                    s += px[((b * h + iy) * w + ix) * ci + c]
                                        * pw[((o * ci + c) * g.kernelH + ky) * g.kernelW + kx]
                                }
                            }
                        }
                        po[((b * ho + oy) * wo + ox) * co + o] = s
                    } } } }
                    if let bias {
                        bias.withUnsafeBufferPointer { pb in
                            for i in 0..<(n * ho * wo) { for o in 0..<co { po[i * co + o] += pb[o] } }
                        }
                    }
                }
            }
        }
        return out
    }
}
