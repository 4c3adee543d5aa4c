import Foundation

/// PyTorch's `NormalFill16`: turns 16 uniforms in [0, 1) into 16 normals in place, pairing
/// element j (radius from `1 − u`) with element j + 8 (angle): `data[j] = r·cos θ`,
/// `data[j+8] = r·sin θ`, then `·std + mean` as a fused multiply-add.
enum TorchBoxMuller {
    typealias V = SIMD8<Float>
    typealias U = SIMD8<UInt32>

    static func fill16(_ p: UnsafeMutablePointer<Float>, kernel: TorchNormalKernel, mean: Float, std: Float) {
        switch kernel {
        case .avx2: fill16AVX2(p, mean: mean, std: std)
        case .scalar: fill16Scalar(p, mean: mean, std: std)
        }
    }

    // MARK: Portable kernel

    /// `radius = sqrtf(-2·logf(1 − u1))`, `θ = float(2π_double · u2)`, libm float cos / sin.
    static func fill16Scalar(_ p: UnsafeMutablePointer<Float>, mean: Float, std: Float) {
        for j in 0..<8 {
            let u1: Float = 1 - p[j]
            let u2 = p[j + 8]
            let radius = (-2 * Foundation.log(u1)).squareRoot()
            let theta = Float(2.0 * Double.pi * Double(u2))
            p[j] = mean.addingProduct(radius * Foundation.cos(theta), std)
            p[j + 8] = mean.addingProduct(radius * Foundation.sin(theta), std)
        }
    }

    // MARK: AVX2 kernel (avx_mathfun.h as compiled into PyTorch's x86 wheels)

    static func fill16AVX2(_ p: UnsafeMutablePointer<Float>, mean: Float, std: Float) {
        let raw = UnsafeMutableRawPointer(p)
        let u1 = V(repeating: 1) - raw.loadUnaligned(as: V.self)
        let u2 = raw.loadUnaligned(fromByteOffset: 32, as: V.self)
        let radius = sqrt8(V(repeating: -2) * log8(u1))
        let theta = V(repeating: Float(2.0 * Double.pi)) * u2
        let (sine, cosine) = sincos8(theta)
        let n1 = radius * cosine
        let n2 = radius * sine
        let m = V(repeating: mean), s = V(repeating: std)
        raw.storeBytes(of: m.addingProduct(n1, s), as: V.self)
        raw.storeBytes(of: m.addingProduct(n2, s), toByteOffset: 32, as: V.self)
    }

    /// Lane-wise IEEE square root (`_mm256_sqrt_ps`); spelled per lane because the generic
    /// `SIMD.squareRoot()` calls `sqrtf` for each lane.
    @inline(__always) static func sqrt8(_ v: V) -> V {
        var r = V()
        for i in 0..<8 { r[i] = v[i].squareRoot() }
        return r
    }

    /// `_mm256_cvttps_epi32` for lanes in [0, 2²³): truncate, then read the integer out of the
    /// mantissa of t + 2²³ (the generic `SIMD8<Int32>(_:rounding:)` is a slow lane loop).
    @inline(__always) static func truncateToUInt32(_ v: V) -> U {
        let magic = V(repeating: 0x1p23)
        return bits(v.rounded(.towardZero) + magic) &- bits(magic)
    }

    /// `_mm256_cvtepi32_ps` for small integers (|n| < 2²²), via the mantissa of 1.5·2²³ + n.
    @inline(__always) static func floatFromSmallInteger(_ n: U) -> V {
        let magic = V(repeating: 0x1.8p23)
        return float(bits(magic) &+ n) - magic
    }

    @inline(__always) static func bits(_ v: V) -> U { unsafeBitCast(v, to: U.self) }
    @inline(__always) static func float(_ u: U) -> V { unsafeBitCast(u, to: V.self) }

    /// Cephes-style logf on 8 lanes (`log256_ps`). Inputs here are in [2⁻²⁴, 1]. GCC fuses each
    /// `y·x + p` of the polynomial, `y·z + e·q1`, `y − z·½` and the final `x + e·q2`.
    static func log8(_ input: V) -> V {
        let x0 = input.replacing(with: V(repeating: Float(bitPattern: 0x0080_0000)), where: input .< Float(bitPattern: 0x0080_0000))
        let b = bits(x0)
        let exponent = (b &>> 23) &- 0x7F   // two's complement in the 32 bits, as `_mm256_sub_epi32`
        var x = float((b & ~U(repeating: 0x7F80_0000)) | bits(V(repeating: 0.5)))
        var e = floatFromSmallInteger(exponent) + 1
        let small = x .< 0.707106781186547524
        let tmp = V(repeating: 0).replacing(with: x, where: small)
        x = x - 1
        e = e - V(repeating: 0).replacing(with: 1, where: small)
        x = x + tmp
        let z = x * x
        var y = V(repeating: 7.0376836292e-2)
        y = V(repeating: -1.1514610310e-1).addingProduct(y, x)
        y = V(repeating: 1.1676998740e-1).addingProduct(y, x)
        y = V(repeating: -1.2420140846e-1).addingProduct(y, x)
        y = V(repeating: 1.4249322787e-1).addingProduct(y, x)
        y = V(repeating: -1.6668057665e-1).addingProduct(y, x)
        y = V(repeating: 2.0000714765e-1).addingProduct(y, x)
        y = V(repeating: -2.4999993993e-1).addingProduct(y, x)
        y = V(repeating: 3.3333331174e-1).addingProduct(y, x)
        y = y * x
        y = (e * V(repeating: -2.12194440e-4)).addingProduct(y, z)
        y = y.addingProduct(-z, V(repeating: 0.5))
        x = x + y
        x = x.addingProduct(e, V(repeating: 0.693359375))
        // log of a non-positive input is NaN (all-ones bits), as `_mm256_or_ps(x, invalid)`.
        return float(bits(x) | U(repeating: 0).replacing(with: .max, where: input .<= 0))
    }

    /// Cephes-style sincosf on 8 lanes (`sincos256_ps`), with GCC's fused range reduction and
    /// polynomial steps.
    static func sincos8(_ input: V) -> (sin: V, cos: V) {
        let inputBits = bits(input)
        var signSin = inputBits & 0x8000_0000
        var x = float(inputBits & 0x7FFF_FFFF)
        // θ ∈ [0, 2π) here, so x·4/π < 8 and the integer tricks below are exact.
        var j = truncateToUInt32(x * V(repeating: 1.27323954473516))
        j = (j &+ 1) & ~1
        let y = floatFromSmallInteger(j)
        let swapSignSin = (j & 4) &<< 29
        let useSinPoly = (j & 2) .== 0
        x = x.addingProduct(y, V(repeating: -0.78515625))
        x = x.addingProduct(y, V(repeating: -2.4187564849853515625e-4))
        x = x.addingProduct(y, V(repeating: -3.77489497744594108e-8))
        let signCos = (~(j &- 2) & 4) &<< 29
        signSin ^= swapSignSin

        let z = x * x
        var c = V(repeating: -1.388731625493765e-3).addingProduct(V(repeating: 2.443315711809948e-5), z)
        c = V(repeating: 4.166664568298827e-2).addingProduct(c, z)
        c = c * z
        let half = z * V(repeating: 0.5)
        c = (-half).addingProduct(c, z)
        c = c + 1

        var s = V(repeating: 8.3321608736e-3).addingProduct(V(repeating: -1.9515295891e-4), z)
        s = V(repeating: -1.6666654611e-1).addingProduct(s, z)
        s = s * z
        s = x.addingProduct(s, x)

        let sinFromS = V(repeating: 0).replacing(with: s, where: useSinPoly)
        let sinFromC = c.replacing(with: 0, where: useSinPoly)
        s = s - sinFromS
        c = c - sinFromC
        let sine = sinFromC + sinFromS
        let cosine = c + s
        return (float(bits(sine) ^ signSin), float(bits(cosine) ^ signCos))
    }
}
