#if canImport(Glibc)
import Glibc
#endif

/// 8-lane float vectors: one AVX2 register. The module is compiled for Haswell, so these
/// helpers become single instructions; they exist because the generic stdlib spellings
/// (`pointwiseMax`, `.max()`, float→int conversion) compile to scalar loops.
typealias F8 = SIMD8<Float>

@inline(__always) func load8(_ p: UnsafePointer<Float>) -> F8 {
    UnsafeRawPointer(p).loadUnaligned(as: F8.self)
}

@inline(__always) func load8(_ p: UnsafeMutablePointer<Float>) -> F8 {
    UnsafeRawPointer(p).loadUnaligned(as: F8.self)
}

@inline(__always) func store8(_ v: F8, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: F8.self)
}

/// Loads `n < 8` floats, zero-filling the other lanes (tails of rows).
@inline(__always) func loadPartial8(_ p: UnsafePointer<Float>, _ n: Int, fill: Float = 0) -> F8 {
    var v = F8(repeating: fill)
    for i in 0..<n { v[i] = p[i] }
    return v
}

/// Stores the first `n < 8` lanes.
@inline(__always) func storePartial8(_ v: F8, _ p: UnsafeMutablePointer<Float>, _ n: Int) {
    for i in 0..<n { p[i] = v[i] }
}

/// Lane-wise maximum (NaN in `a` is kept, so NaNs propagate through softmax).
@inline(__always) func vmax(_ a: F8, _ b: F8) -> F8 { a.replacing(with: b, where: a .< b) }

/// Lane-wise minimum.
@inline(__always) func vmin(_ a: F8, _ b: F8) -> F8 { a.replacing(with: b, where: b .< a) }

/// Horizontal maximum.
@inline(__always) func hmax(_ x: F8) -> Float {
    let a = x.lowHalf, b = x.highHalf
    let m4 = a.replacing(with: b, where: a .< b)
    let s = SIMD4<Float>(m4[2], m4[3], m4[0], m4[1])
    let m2 = m4.replacing(with: s, where: m4 .< s)
    return m2[0] < m2[1] ? m2[1] : m2[0]
}

/// Horizontal sum, pairwise (better rounding than a lane chain).
@inline(__always) func hsum(_ x: F8) -> Float {
    let s4 = x.lowHalf + x.highHalf
    let s2 = s4.lowHalf + s4.highHalf
    return s2[0] + s2[1]
}

/// Vectorised transcendental functions with float32 accuracy of about one ulp, written so
/// that they stay branch-free and inline into the kernels' loops.
enum VectorMath {
    // Cephes-style expf: exp(x) = 2^n · exp(r), n = round(x / ln 2), |r| ≤ ln2 / 2, with
    // ln 2 split in two so that r is exact, and a degree-5 minimax polynomial for exp(r).
    // Measured worst error against float64: 1.6e-7 relative (about 1.5 ulp).
    @usableFromInline static let expHi: Float = 88.3762626647949 // 2^n stays finite up to here
    @usableFromInline static let expOverflow: Float = 88.72283905206835
    @usableFromInline static let expUnderflow: Float = -87.33654475 // smallest normal result

    @inline(__always) static func exp(_ x: F8) -> F8 {
        let xc = vmin(vmax(x, F8(repeating: expUnderflow)), F8(repeating: expHi))
        let magic = F8(repeating: 12_582_912) // 1.5·2^23: adding it rounds to an integer
        let t = (xc * 1.44269504088896341) + magic
        let n = t - magic
        var r = xc.addingProduct(n, F8(repeating: -0.693359375))
        r = r.addingProduct(n, F8(repeating: 2.12194440e-4))
        var p = F8(repeating: 1.3981999507e-3).addingProduct(F8(repeating: 1.9875691500e-4), r)
        p = F8(repeating: 8.3334519073e-3).addingProduct(p, r)
        p = F8(repeating: 4.1665795894e-2).addingProduct(p, r)
        p = F8(repeating: 1.6666665459e-1).addingProduct(p, r)
        p = F8(repeating: 5.0000001201e-1).addingProduct(p, r)
        let r2 = r * r
        let er = (r + 1).addingProduct(p, r2)
        // 2^n from the integer sitting in the low mantissa bits of t.
        let ni = unsafeBitCast(t, to: SIMD8<Int32>.self) &- unsafeBitCast(magic, to: SIMD8<Int32>.self)
        let scale = unsafeBitCast((ni &+ 127) &<< 23, to: F8.self)
        var y = er * scale
        y = y.replacing(with: 0, where: x .< expUnderflow)
        y = y.replacing(with: .infinity, where: x .> expOverflow)
        return y
    }

    /// exp for arguments known to be ≤ 0 and finite-or-−∞ (softmax after max subtraction).
    @inline(__always) static func expNonPositive(_ x: F8) -> F8 {
        let xc = vmax(x, F8(repeating: expUnderflow))
        let magic = F8(repeating: 12_582_912)
        let t = (xc * 1.44269504088896341) + magic
        let n = t - magic
        var r = xc.addingProduct(n, F8(repeating: -0.693359375))
        r = r.addingProduct(n, F8(repeating: 2.12194440e-4))
        var p = F8(repeating: 1.3981999507e-3).addingProduct(F8(repeating: 1.9875691500e-4), r)
        p = F8(repeating: 8.3334519073e-3).addingProduct(p, r)
        p = F8(repeating: 4.1665795894e-2).addingProduct(p, r)
        p = F8(repeating: 1.6666665459e-1).addingProduct(p, r)
        p = F8(repeating: 5.0000001201e-1).addingProduct(p, r)
        let er = (r + 1).addingProduct(p, r * r)
        let ni = unsafeBitCast(t, to: SIMD8<Int32>.self) &- unsafeBitCast(magic, to: SIMD8<Int32>.self)
        let scale = unsafeBitCast((ni &+ 127) &<< 23, to: F8.self)
        return (er * scale).replacing(with: 0, where: x .< expUnderflow)
    }

    /// x·sigmoid(x) = x / (1 + e^−x).
    @inline(__always) static func silu(_ x: F8) -> F8 {
        x / (exp(-x) + 1)
    }

    /// erfc(z) for z ≥ 0, as t·exp(−z² + P(t)) with t = 1/(1 + z/2): the Chebyshev fit of
    /// Numerical Recipes ("erfcc"), relative error below 1.2e-7 for every z ≥ 0. Relative
    /// accuracy in the tail is what GELU needs for negative inputs, where 1 + erf cancels.
    @inline(__always) static func erfcNonNegative(_ z: F8) -> F8 {
        let t = 1 / (z * 0.5 + 1)
        var p = F8(repeating: -0.82215223).addingProduct(t, F8(repeating: 0.17087277))
        p = F8(repeating: 1.48851587).addingProduct(t, p)
        p = F8(repeating: -1.13520398).addingProduct(t, p)
        p = F8(repeating: 0.27886807).addingProduct(t, p)
        p = F8(repeating: -0.18628806).addingProduct(t, p)
        p = F8(repeating: 0.09678418).addingProduct(t, p)
        p = F8(repeating: 0.37409196).addingProduct(t, p)
        p = F8(repeating: 1.00002368).addingProduct(t, p)
        p = F8(repeating: -1.26551223).addingProduct(t, p)
        return t * exp(p.addingProduct(z, -z))
    }

    /// GELU with the exact (erf) definition: x/2 · (1 + erf(x/√2)).
    @inline(__always) static func gelu(_ x: F8) -> F8 {
        let z = x.replacing(with: -x, where: x .< 0) * 0.70710678118654752
        let e = erfcNonNegative(z)
        let onePlusErf = (2 - e).replacing(with: e, where: x .< 0)
        return (x * 0.5) * onePlusErf
    }

    /// Rounds each lane to the nearest bfloat16 (ties to even), keeping NaN a NaN.
    @inline(__always) static func roundToBF16(_ x: F8) -> F8 {
        let bits = unsafeBitCast(x, to: SIMD8<UInt32>.self)
        let rounding = (bits &>> 16) & 1 &+ 0x7fff
        let r = unsafeBitCast((bits &+ rounding) & 0xffff_0000, to: F8.self)
        return r.replacing(with: x, where: x .!= x)
    }
}
