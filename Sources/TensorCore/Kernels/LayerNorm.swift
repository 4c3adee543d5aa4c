import TensorStorage

/// Layer normalisation over the last dimension.
extension Kernels {
    /// `LayerNorm(D, eps)` on `x [..., D]` with optional affine `weight`/`bias` `[D]`.
    public static func layerNorm(_ x: Tensor, weight: Tensor?, bias: Tensor?, eps: Float) throws -> Tensor {
        let d = try layerNormWidth(x.shape, weight: weight, bias: bias)
        var out = uninitialized(x.shape)
        let rows = d == 0 ? 0 : x.count / d
        let one = Tensor(shape: [d], repeating: 1), zero = Tensor(zeros: [d])
        let w = weight ?? one, b = bias ?? zero
        x.withUnsafeBufferPointer { px in
            out.withUnsafeMutableBufferPointer { po in
                w.withUnsafeBufferPointer { pw in
                    b.withUnsafeBufferPointer { pb in
                        let src = px.baseAddress!, dst = po.baseAddress!
                        let wp = pw.baseAddress!, bp = pb.baseAddress!
                        forChunks(rows, grain: max(1, parallelGrain / max(d, 1))) { r in
                            for row in r {
                                layerNormRow(src + row * d, dst + row * d, d, wp, bp, eps: eps)
                            }
                        }
                    }
                }
            }
        }
        return out
    }

    /// Two passes over a row that sits in L1: mean, then mean squared deviation (no
    /// cancellation from E[x²] − E[x]²). Two vector accumulators halve the add chains.
    @inline(__always)
    private static func layerNormRow(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ d: Int,
                                     _ w: UnsafePointer<Float>, _ b: UnsafePointer<Float>, eps: Float) {
        var s0 = F8(repeating: 0), s1 = F8(repeating: 0)
        var j = 0
        while j + 16 <= d { s0 += load8(x + j); s1 += load8(x + j + 8); j += 16 }
        while j + 8 <= d { s0 += load8(x + j); j += 8 }
        var tail: Float = 0
        while j < d { tail += x[j]; j += 1 }
        let mean = (Double(hsum(s0)) + Double(hsum(s1)) + Double(tail)) / Double(d)
        let m = F8(repeating: Float(mean))
        s0 = .zero; s1 = .zero
        j = 0
        while j + 16 <= d {
            let a = load8(x + j) - m, c = load8(x + j + 8) - m
            s0 = s0.addingProduct(a, a); s1 = s1.addingProduct(c, c)
            j += 16
        }
        while j + 8 <= d { let a = load8(x + j) - m; s0 = s0.addingProduct(a, a); j += 8 }
        tail = 0
        while j < d { let a = x[j] - m[0]; tail += a * a; j += 1 }
        let variance = (Double(hsum(s0)) + Double(hsum(s1)) + Double(tail)) / Double(d)
        let rstd = F8(repeating: Float(1 / (variance + Double(eps)).squareRoot()))
        j = 0
        while j + 8 <= d {
            store8(load8(b + j).addingProduct((load8(x + j) - m) * rstd, load8(w + j)), y + j)
            j += 8
        }
        while j < d { y[j] = b[j].addingProduct((x[j] - m[0]) * rstd[0], w[j]); j += 1 }
    }

    static func layerNormWidth(_ shape: [Int], weight: Tensor?, bias: Tensor?) throws -> Int {
        guard let d = shape.last, d > 0 else {
            throw TensorError.shapeMismatch("layerNorm expects [..., D] with D > 0, got \(Shape.describe(shape))")
        }
        try checkChannelVector(weight, channels: d, what: "layerNorm weight")
        try checkChannelVector(bias, channels: d, what: "layerNorm bias")
        return d
    }
}

extension Kernels.Reference {
    public static func layerNorm(_ x: Tensor, weight: Tensor?, bias: Tensor?, eps: Float) throws -> Tensor {
        let d = try Kernels.layerNormWidth(x.shape, weight: weight, bias: bias)
        let w = weight?.scalars, b = bias?.scalars
        var out = Tensor(zeros: x.shape)
        x.withUnsafeBufferPointer { px in
            out.withUnsafeMutableBufferPointer { po in
                for row in 0..<(x.count / d) {
                    let o = row * d
                    var sum = 0.0
                    for j in 0..<d { sum += Double(px[o + j]) }
                    let mean = sum / Double(d)
                    var sq = 0.0
                    for j in 0..<d { let t = Double(px[o + j]) - mean; sq += t * t }
                    let rstd = 1 / (sq / Double(d) + Double(eps)).squareRoot()
                    for j in 0..<d {
                        po[o + j] = Float((Double(px[o + j]) - mean) * rstd * Double(w?[j] ?? 1) + Double(b?[j] ?? 0))
                    }
                }
            }
        }
        return out
    }
}
