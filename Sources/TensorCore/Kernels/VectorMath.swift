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

/// Transposes one 8×8 block (`dst[c·ld + r] = src[r·ls + c]`) with lane shuffles: unpack,
/// 64-bit shuffle, 128-bit swap — about 1.5 instructions per element instead of a
/// strided scalar store each.
@inline(__always)
func transpose8x8(_ src: UnsafePointer<Float>, _ ls: Int, _ dst: UnsafeMutablePointer<Float>,
                  _ ld: Int, roundBF16: Bool = false) {
    @inline(__always) func row(_ i: Int) -> F8 {
        let v = load8(src + i * ls)
        return roundBF16 ? VectorMath.roundToBF16(v) : v
    }
    @inline(__always) func lo(_ a: F8, _ b: F8) -> F8 { F8(a[0], b[0], a[1], b[1], a[4], b[4], a[5], b[5]) }
    @inline(__always) func hi(_ a: F8, _ b: F8) -> F8 { F8(a[2], b[2], a[3], b[3], a[6], b[6], a[7], b[7]) }
    @inline(__always) func lo2(_ a: F8, _ b: F8) -> F8 { F8(a[0], a[1], b[0], b[1], a[4], a[5], b[4], b[5]) }
    @inline(__always) func hi2(_ a: F8, _ b: F8) -> F8 { F8(a[2], a[3], b[2], b[3], a[6], a[7], b[6], b[7]) }
    let r0 = row(0), r1 = row(1), r2 = row(2), r3 = row(3), r4 = row(4), r5 = row(5), r6 = row(6), r7 = row(7)
    let t0 = lo(r0, r1), t1 = hi(r0, r1), t2 = lo(r2, r3), t3 = hi(r2, r3)
    let t4 = lo(r4, r5), t5 = hi(r4, r5), t6 = lo(r6, r7), t7 = hi(r6, r7)
    let u0 = lo2(t0, t2), u1 = hi2(t0, t2), u2 = lo2(t1, t3), u3 = hi2(t1, t3)
    let u4 = lo2(t4, t6), u5 = hi2(t4, t6), u6 = lo2(t5, t7), u7 = hi2(t5, t7)
    store8(F8(lowHalf: u0.lowHalf, highHalf: u4.lowHalf), dst)
    store8(F8(lowHalf: u1.lowHalf, highHalf: u5.lowHalf), dst + ld)
    store8(F8(lowHalf: u2.lowHalf, highHalf: u6.lowHalf), dst + 2 * ld)
    store8(F8(lowHalf: u3.lowHalf, highHalf: u7.lowHalf), dst + 3 * ld)
    store8(F8(lowHalf: u0.highHalf, highHalf: u4.highHalf), dst + 4 * ld)
    store8(F8(lowHalf: u1.highHalf, highHalf: u5.highHalf), dst + 5 * ld)
    store8(F8(lowHalf: u2.highHalf, highHalf: u6.highHalf), dst + 6 * ld)
    store8(F8(lowHalf: u3.highHalf, highHalf: u7.highHalf), dst + 7 * ld)
}

/// Vectorised transcendental functions with float32 accuracy of about one ulp, written so
/// that they stay branch-free and inline into the kernels' loops.
enum VectorMath {
    // Cephes-style expf: exp(x) = 2^n · exp(r), n = round(x / ln 2), |r| ≤ ln2 / 2, with
    // ln 2 split in two so that r is exact, and a degree-5 minimax polynomial for exp(r).
    // Measured worst error against float64: ~1.5e-7 relative (about 1.5 ulp).
    // Literals rather than `static let`s: a stored static is a lazily initialised global whose
    // access check kept these functions from being inlined.
    @inline(__always) static var expOverflow: Float { 88.72283905206835 }
    @inline(__always) static var expUnderflow: Float { -87.33654475 } // smallest normal result

    @_transparent static func exp(_ x: F8) -> F8 {
        let xc = vmin(vmax(x, F8(repeating: expUnderflow)), F8(repeating: expOverflow))
        let magic = F8(repeating: 12_582_912) // 1.5·2^23: adding it rounds to an integer
        let t = (xc * 1.44269504088896341) + magic
        let n = t - magic
        var r = xc.addingProduct(n, F8(repeating: -0.693359375))
        r = r.addingProduct(n, F8(repeating: 2.12194440e-4))
        let er = expReduced(r)
        // 2^n from the integer in the low mantissa bits of t, applied as 2^⌊n/2⌋·2^(n−⌊n/2⌋)
        // so that n = 128 (x just below the overflow bound) stays finite.
        let ni = unsafeBitCast(t, to: SIMD8<Int32>.self) &- unsafeBitCast(magic, to: SIMD8<Int32>.self)
        let n1 = ni &>> 1, n2 = ni &- n1
        let s1 = unsafeBitCast((n1 &+ 127) &<< 23, to: F8.self)
        let s2 = unsafeBitCast((n2 &+ 127) &<< 23, to: F8.self)
        var y = (er * s1) * s2
        y = y.replacing(with: 0, where: x .< expUnderflow)
        y = y.replacing(with: .infinity, where: x .> expOverflow)
        return y
    }

    /// exp(r) for |r| ≤ ln2/2: 1 + r + r²·P(r).
    @_transparent static func expReduced(_ r: F8) -> F8 {
        var p = F8(repeating: 1.3981999507e-3).addingProduct(F8(repeating: 1.9875691500e-4), r)
        p = F8(repeating: 8.3334519073e-3).addingProduct(p, r)
        p = F8(repeating: 4.1665795894e-2).addingProduct(p, r)
        p = F8(repeating: 1.6666665459e-1).addingProduct(p, r)
        p = F8(repeating: 5.0000001201e-1).addingProduct(p, r)
        return (r + 1).addingProduct(p, r * r)
    }

    /// exp for arguments known to be ≤ 0 and finite-or-−∞ (softmax after max subtraction).
    @_transparent static func expNonPositive(_ x: F8) -> F8 {
        let xc = vmax(x, F8(repeating: expUnderflow))
        let magic = F8(repeating: 12_582_912)
        let t = (xc * 1.44269504088896341) + magic
        let n = t - magic
        var r = xc.addingProduct(n, F8(repeating: -0.693359375))
        r = r.addingProduct(n, F8(repeating: 2.12194440e-4))
        let er = expReduced(r)
        let ni = unsafeBitCast(t, to: SIMD8<Int32>.self) &- unsafeBitCast(magic, to: SIMD8<Int32>.self)
        let scale = unsafeBitCast((ni &+ 127) &<< 23, to: F8.self)
        return (er * scale).replacing(with: 0, where: x .< expUnderflow)
    }

    /// x·sigmoid(x) = x / (1 + e^−x).
    @_transparent static func silu(_ x: F8) -> F8 {
        x / (exp(-x) + 1)
    }

    /// erfc(z) for z ≥ 0 as t·P(t)·exp(−z²) with t = 1/(1 + p·z): the five-term fit of
    /// Abramowitz & Stegun 7.1.26, absolute error below 1.5e-7 in exact arithmetic (measured in
    /// float32 against glibc's double `erfc` on a 1e-4 grid over [0, 10]: 4.9e-7). It replaced a
    /// ten-term fit with a relative error bound (the "erfcc" of Numerical Recipes): half the
    /// polynomial: GEGLU of 32,768 × 2,560 took 31.1 ms instead of 46.9 on two Zen 3 cores
    /// (`bench --kernels shared`, quiet machine, old and new binary back to back). GELU needs only absolute accuracy here: where
    /// 1 + erf cancels (x < 0) the result is x/2 · erfc, so its error is |x|/2 times erfc's.
    @_transparent static func erfcNonNegative(_ z: F8) -> F8 {
        let t = 1 / (z * 0.3275911 + 1)
        var p = F8(repeating: -1.453152027).addingProduct(t, F8(repeating: 1.061405429))
        p = F8(repeating: 1.421413741).addingProduct(t, p)
        p = F8(repeating: -0.284496736).addingProduct(t, p)
        p = F8(repeating: 0.254829592).addingProduct(t, p)
        return (t * p) * expNonPositive(-(z * z))
    }

    /// GELU with the exact (erf) definition: x/2 · (1 + erf(x/√2)), within 4.2e-7 absolute of
    /// the float64 value for |x| ≤ 12 (measured on a 1e-4 grid) and exactly 0 below
    /// x ≈ −13 (where the float64 value is under 1e-37).
    @_transparent static func gelu(_ x: F8) -> F8 {
        let negative = x .< 0
        let z = x.replacing(with: -x, where: negative) * 0.70710678118654752
        let e = erfcNonNegative(z)
        let onePlusErf = (2 - e).replacing(with: e, where: negative)
        return (x * 0.5) * onePlusErf
    }

    /// Rounds each lane to the nearest bfloat16 (ties to even), keeping NaN a NaN.
    @_transparent static func roundToBF16(_ x: F8) -> F8 {
        let bits = unsafeBitCast(x, to: SIMD8<UInt32>.self)
        let rounding = (bits &>> 16) & 1 &+ 0x7fff
        let r = unsafeBitCast((bits &+ rounding) & 0xffff_0000, to: F8.self)
        return r.replacing(with: x, where: x .!= x)
    }
}
