/// Conversions between float32 and the 16-bit storage formats, written out so that they are
/// the same on every platform (Swift's `Float16` is unavailable on some x86-64 toolchains).
public enum HalfConversion {
    /// IEEE binary16 bits → float32 (exact).
    @inlinable
    public static func float(fromF16 h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let exp = Int((h >> 10) & 0x1f)
        let mant = UInt32(h & 0x3ff)
        if exp == 0 {
            if mant == 0 { return Float(bitPattern: sign) }
            // Subnormal: value = mant · 2^-24.
            let v = Float(mant) * 5.9604644775390625e-8
            return sign == 0 ? v : -v
        }
        if exp == 31 {
            return Float(bitPattern: sign | 0x7f80_0000 | (mant << 13))
        }
        return Float(bitPattern: sign | UInt32(exp - 15 + 127) << 23 | (mant << 13))
    }

    /// float32 → IEEE binary16 bits, rounding to nearest even (as PyTorch's `.half()`).
    @inlinable
    public static func f16(from f: Float) -> UInt16 {
        let bits = f.bitPattern
        let sign = UInt16((bits >> 16) & 0x8000)
        let exp = Int((bits >> 23) & 0xff)
        let mant = bits & 0x7f_ffff
        if exp == 0xff { // inf / nan
            return sign | 0x7c00 | (mant != 0 ? 0x200 : 0)
        }
        let e = exp - 127 + 15
        if e >= 31 { return sign | 0x7c00 }
        if e <= 0 {
            if e < -10 { return sign }
            let m = mant | 0x80_0000
            let shift = UInt32(14 - e)
            var half = m >> shift
            let rem = m & ((1 << shift) - 1)
            let halfway = UInt32(1) << (shift - 1)
            if rem > halfway || (rem == halfway && (half & 1) == 1) { half += 1 }
            return sign | UInt16(half)
        }
        var half = UInt32(e) << 10 | (mant >> 13)
        let rem = mant & 0x1fff
        if rem > 0x1000 || (rem == 0x1000 && (half & 1) == 1) { half += 1 }
        return sign | UInt16(half) // a carry into the exponent rounds up correctly, up to inf
    }

    /// bfloat16 bits → float32 (exact).
    @inlinable
    public static func float(fromBF16 b: UInt16) -> Float {
        Float(bitPattern: UInt32(b) << 16)
    }

    /// float32 → bfloat16 bits, rounding to nearest even; NaN stays NaN.
    @inlinable
    public static func bf16(from f: Float) -> UInt16 {
        let bits = f.bitPattern
        if f.isNaN { return UInt16(bits >> 16) | 0x40 }
        let rounding = 0x7fff + ((bits >> 16) & 1)
        return UInt16((bits &+ rounding) >> 16)
    }

    /// Rounds a float32 to the nearest bfloat16 value, returned as float32.
    @inlinable
    public static func roundToBF16(_ f: Float) -> Float {
        float(fromBF16: bf16(from: f))
    }
}
