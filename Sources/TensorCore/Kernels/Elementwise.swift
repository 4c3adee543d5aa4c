import TensorStorage

#if canImport(Glibc)
import Glibc
#endif

/// Elementwise activations and arithmetic, vectorised and parallel over large tensors.
extension Kernels {
    // MARK: Activations

    /// SiLU, x·sigmoid(x).
    public static func silu(_ x: Tensor) -> Tensor {
        var y = x
        siluInPlace(&y)
        return y
    }

    public static func siluInPlace(_ x: inout Tensor) {
        x.withUnsafeMutableBufferPointer { p in
            map(UnsafePointer(p.baseAddress!), p.baseAddress!, count: p.count, SiLUMap())
        }
    }

    /// GELU, exact form x/2·(1 + erf(x/√2)) (PyTorch's default `nn.GELU()`).
    public static func gelu(_ x: Tensor) -> Tensor {
        var y = x
        geluInPlace(&y)
        return y
    }

    public static func geluInPlace(_ x: inout Tensor) {
        x.withUnsafeMutableBufferPointer { p in
            map(UnsafePointer(p.baseAddress!), p.baseAddress!, count: p.count, GELUMap())
        }
    }

    /// GEGLU on the last dimension: `[..., 2D] → [..., D]`, first half value, second half gate,
    /// `value · GELU(gate)`.
    public static func geglu(_ x: Tensor) throws -> Tensor {
        guard let last = x.shape.last, last % 2 == 0, last > 0 else {
            throw TensorError.shapeMismatch("geglu expects an even, non-zero last dimension, got \(Shape.describe(x.shape))")
        }
        let d = last / 2
        let rows = x.count / last
        var out = uninitialized(Array(x.shape.dropLast()) + [d])
        x.withUnsafeBufferPointer { px in
            out.withUnsafeMutableBufferPointer { po in
                let src = px.baseAddress!, dst = po.baseAddress!
                forChunks(rows, grain: max(1, parallelGrain / last)) { r in
                    for row in r {
                        let v = src + row * last, g = v + d, o = dst + row * d
                        var j = 0
                        while j + 8 <= d {
                            store8(load8(v + j) * VectorMath.gelu(load8(g + j)), o + j)
                            j += 8
                        }
                        if j < d {
                            let n = d - j
                            storePartial8(loadPartial8(v + j, n) * VectorMath.gelu(loadPartial8(g + j, n)), o + j, n)
                        }
                    }
                }
            }
        }
        return out
    }

    // MARK: Arithmetic

    /// `a + b` for tensors of one shape.
    public static func add(_ a: Tensor, _ b: Tensor) throws -> Tensor {
        var y = a
        try addInPlace(&y, b)
        return y
    }

    /// `a += b` for tensors of one shape (residual connections).
    public static func addInPlace(_ a: inout Tensor, _ b: Tensor) throws {
        guard a.shape == b.shape else {
            throw TensorError.shapeMismatch("add: \(Shape.describe(a.shape)) and \(Shape.describe(b.shape)) differ")
        }
        try addScaledInPlace(&a, b, scale: 1)
    }

    /// `a[offset + i] += b[i]` for every element of b: a residual added into part of a larger
    /// tensor (a chunk of rows).
    public static func addInPlace(_ a: inout Tensor, _ b: Tensor, atElement offset: Int) throws {
        guard offset >= 0, offset + b.count <= a.count else {
            throw TensorError.shapeMismatch("add: \(b.count) values at \(offset) do not fit in \(Shape.describe(a.shape))")
        }
        b.withUnsafeBufferPointer { pb in
            a.withUnsafeMutableBufferPointer { pa in
                let x = pb.baseAddress!, y = pa.baseAddress! + offset
                forChunks(pb.count) { r in
                    var i = r.lowerBound
                    while i + 8 <= r.upperBound { store8(load8(y + i) + load8(x + i), y + i); i += 8 }
                    while i < r.upperBound { y[i] += x[i]; i += 1 }
                }
            }
        }
    }

    /// `a += scale·b` for tensors of one shape (gated residuals, guidance combinations).
    public static func addScaledInPlace(_ a: inout Tensor, _ b: Tensor, scale: Float) throws {
        guard a.shape == b.shape else {
            throw TensorError.shapeMismatch("addScaled: \(Shape.describe(a.shape)) and \(Shape.describe(b.shape)) differ")
        }
        b.withUnsafeBufferPointer { pb in
            a.withUnsafeMutableBufferPointer { pa in
                let x = pb.baseAddress!, y = pa.baseAddress!
                let s = F8(repeating: scale)
                forChunks(pa.count) { r in
                    var i = r.lowerBound
                    if scale == 1 {
                        while i + 8 <= r.upperBound { store8(load8(y + i) + load8(x + i), y + i); i += 8 }
                        while i < r.upperBound { y[i] += x[i]; i += 1 }
                    } else {
                        while i + 8 <= r.upperBound { store8(load8(y + i).addingProduct(load8(x + i), s), y + i); i += 8 }
                        while i < r.upperBound { y[i] = y[i].addingProduct(x[i], scale); i += 1 }
                    }
                }
            }
        }
    }

    /// `x + bias` with `bias [C]` broadcast over every row of `x [..., C]`.
    public static func addBias(_ x: Tensor, _ bias: Tensor) throws -> Tensor {
        var y = x
        try addBiasInPlace(&y, bias)
        return y
    }

    public static func addBiasInPlace(_ x: inout Tensor, _ bias: Tensor) throws {
        guard let c = x.shape.last, c > 0 else {
            throw TensorError.shapeMismatch("addBias: tensor \(Shape.describe(x.shape)) has no channel axis")
        }
        try checkChannelVector(bias, channels: c, what: "addBias: bias")
        let rows = x.count / c
        bias.withUnsafeBufferPointer { pb in
            x.withUnsafeMutableBufferPointer { px in
                addRows(px.baseAddress!, rows: rows, width: c, pb.baseAddress!, rowsPerVector: rows)
            }
        }
    }

    /// `x [N, S..., C] + b [N, C]`: one channel vector per sample, broadcast over its positions
    /// (the ResBlock's time-embedding projection added to the feature map).
    public static func addPerSample(_ x: Tensor, _ b: Tensor) throws -> Tensor {
        var y = x
        try addPerSampleInPlace(&y, b)
        return y
    }

    public static func addPerSampleInPlace(_ x: inout Tensor, _ b: Tensor) throws {
        guard x.rank >= 2, let c = x.shape.last, b.shape == [x.shape[0], c] else {
            throw TensorError.shapeMismatch("addPerSample expects x [N, ..., C] and b [N, C], got \(Shape.describe(x.shape)) and \(Shape.describe(b.shape))")
        }
        let n = x.shape[0]
        guard n > 0, c > 0 else { return }
        let perSample = x.count / n / c
        b.withUnsafeBufferPointer { pb in
            x.withUnsafeMutableBufferPointer { px in
                addRows(px.baseAddress!, rows: n * perSample, width: c, pb.baseAddress!, rowsPerVector: perSample)
            }
        }
    }

    /// Adds vector `v[row / rowsPerVector]` (each `width` long) to every row.
    private static func addRows(_ x: UnsafeMutablePointer<Float>, rows: Int, width c: Int,
                                _ v: UnsafePointer<Float>, rowsPerVector: Int) {
        forChunks(rows, grain: max(1, parallelGrain / c)) { r in
            for row in r {
                let p = x + row * c, b = v + (row / max(rowsPerVector, 1)) * c
                var j = 0
                while j + 8 <= c { store8(load8(p + j) + load8(b + j), p + j); j += 8 }
                while j < c { p[j] += b[j]; j += 1 }
            }
        }
    }

    /// `s·x`.
    public static func scaled(_ x: Tensor, by s: Float) -> Tensor {
        var y = x
        scaleInPlace(&y, by: s)
        return y
    }

    public static func scaleInPlace(_ x: inout Tensor, by s: Float) {
        x.withUnsafeMutableBufferPointer { p in
            map(UnsafePointer(p.baseAddress!), p.baseAddress!, count: p.count, ScaleMap(s: F8(repeating: s)))
        }
    }
}

extension Kernels.Reference {
    public static func silu(_ x: Tensor) -> Tensor {
        var y = x
        y.withUnsafeMutableBufferPointer { p in
            for i in p.indices {
                let v = Double(p[i])
                p[i] = Float(v / (1 + Glibc.exp(-v)))
            }
        }
        return y
    }

    public static func gelu(_ x: Tensor) -> Tensor {
        var y = x
        y.withUnsafeMutableBufferPointer { p in
            for i in p.indices { p[i] = Float(geluScalar(Double(p[i]))) }
        }
        return y
    }

    static func geluScalar(_ v: Double) -> Double {
        0.5 * v * Glibc.erfc(-v / 2.0.squareRoot())
    }

    public static func geglu(_ x: Tensor) throws -> Tensor {
        guard let last = x.shape.last, last % 2 == 0, last > 0 else {
            throw TensorError.shapeMismatch("geglu expects an even, non-zero last dimension, got \(Shape.describe(x.shape))")
        }
        let d = last / 2, rows = x.count / last
        var out = Tensor(zeros: Array(x.shape.dropLast()) + [d])
        x.withUnsafeBufferPointer { px in
            out.withUnsafeMutableBufferPointer { po in
                for r in 0..<rows {
                    for j in 0..<d {
                        po[r * d + j] = Float(Double(px[r * last + j]) * geluScalar(Double(px[r * last + d + j])))
                    }
                }
            }
        }
        return out
    }
}
