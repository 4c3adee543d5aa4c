import TensorStorage

#if canImport(Glibc)
import Glibc
#endif

/// Softmax over the last dimension, max-subtracted.
extension Kernels {
    /// `softmax(scale·x)` along the last axis.
    public static func softmax(_ x: Tensor, scale: Float = 1) throws -> Tensor {
        var y = x
        try softmaxInPlace(&y, scale: scale)
        return y
    }

    public static func softmaxInPlace(_ x: inout Tensor, scale: Float = 1) throws {
        guard let n = x.shape.last, n > 0 else {
            throw TensorError.shapeMismatch("softmax over an empty last dimension: \(Shape.describe(x.shape))")
        }
        let rows = x.count / n
        x.withUnsafeMutableBufferPointer { p in
            let base = p.baseAddress!
            forChunks(rows, grain: max(1, parallelGrain / n)) { r in
                for row in r { softmaxRow(base + row * n, n, scale: scale) }
            }
        }
    }

    /// In-place softmax of one row; with `scale`, of `scale·row`.
    @inline(__always)
    static func softmaxRow(_ p: UnsafeMutablePointer<Float>, _ n: Int, scale: Float) {
        let s = F8(repeating: scale)
        // Max of scale·x: scale may be negative, so scale first.
        var m8 = F8(repeating: -.infinity)
        var j = 0
        while j + 8 <= n { m8 = vmax(m8, load8(p + j) * s); j += 8 }
        var m = hmax(m8)
        while j < n { m = max(m, p[j] * scale); j += 1 }
        let mv = F8(repeating: m)
        var sum8 = F8(repeating: 0)
        j = 0
        while j + 8 <= n {
            let v = VectorMath.expNonPositive((load8(p + j) * s) - mv)
            store8(v, p + j)
            sum8 += v
            j += 8
        }
        var sum = hsum(sum8)
        while j < n {
            let v = expf(p[j] * scale - m)
            p[j] = v
            sum += v
            j += 1
        }
        let inv = F8(repeating: 1 / sum)
        j = 0
        while j + 8 <= n { store8(load8(p + j) * inv, p + j); j += 8 }
        while j < n { p[j] *= inv[0]; j += 1 }
    }
}

extension Kernels.Reference {
    public static func softmax(_ x: Tensor, scale: Float = 1) throws -> Tensor {
        guard let n = x.shape.last, n > 0 else {
            throw TensorError.shapeMismatch("softmax over an empty last dimension: \(Shape.describe(x.shape))")
        }
        var y = x
        y.withUnsafeMutableBufferPointer { p in
            for row in 0..<(p.count / n) {
                let o = row * n
                var m = -Double.infinity
                for j in 0..<n { m = max(m, Double(p[o + j]) * Double(scale)) }
                var sum = 0.0
                var e = [Double](repeating: 0, count: n)
                for j in 0..<n { e[j] = Glibc.exp(Double(p[o + j]) * Double(scale) - m); sum += e[j] }
                for j in 0..<n { p[o + j] = Float(e[j] / sum) }
            }
        }
        return y
    }
}
