import TensorStorage

/// Conversions between float32 and bfloat16/f16 storage over whole buffers, vectorised: weights
/// resident as bf16 are widened into a scratch block right before an fp32 kernel reads them,
/// so these loops run once per layer per call and must cost little next to the GEMM.
public enum Widening {
    /// Elements below which one thread converts alone (the fan-out costs more).
    static let parallelThreshold = 1 << 20

    /// `count` bfloat16 values at `source` (any alignment) → float32 at `destination` (exact).
    public static func bf16ToF32(_ source: UnsafeRawPointer, _ destination: UnsafeMutablePointer<Float>, count: Int) {
        let out = UncheckedSendable(UnsafeMutableRawPointer(destination)), src = UncheckedSendable(source)
        run(count) { range in
            let s = src.value, d = out.value
            var i = range.lowerBound
            while i + 8 <= range.upperBound {
                let h = s.loadUnaligned(fromByteOffset: 2 * i, as: SIMD8<UInt16>.self)
                let w = SIMD8<UInt32>(truncatingIfNeeded: h) &<< 16
                d.storeBytes(of: w, toByteOffset: 4 * i, as: SIMD8<UInt32>.self)
                i += 8
            }
            while i < range.upperBound {
                let h = s.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)
                d.storeBytes(of: UInt32(h) << 16, toByteOffset: 4 * i, as: UInt32.self)
                i += 1
            }
        }
    }

    /// `count` IEEE half values at `source` (any alignment) → float32 (exact).
    public static func f16ToF32(_ source: UnsafeRawPointer, _ destination: UnsafeMutablePointer<Float>, count: Int) {
        let out = UncheckedSendable(destination), src = UncheckedSendable(source)
        run(count) { range in
            for i in range {
                out.value[i] = HalfConversion.float(fromF16: src.value.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
            }
        }
    }

    /// `count` float32 values → bfloat16 bits, rounding to nearest even (NaN stays NaN), as
    /// `HalfConversion.bf16(from:)` does element by element.
    public static func f32ToBF16(_ source: UnsafePointer<Float>, _ destination: UnsafeMutableRawPointer, count: Int) {
        let out = UncheckedSendable(destination), src = UncheckedSendable(UnsafeRawPointer(source))
        run(count) { range in
            let s = src.value, d = out.value
            var i = range.lowerBound
            while i + 8 <= range.upperBound {
                let bits = s.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<UInt32>.self)
                let rounding = SIMD8<UInt32>(repeating: 0x7fff) &+ ((bits &>> 16) & 1)
                var rounded = (bits &+ rounding) &>> 16
                // NaN: exponent all ones and a non-zero mantissa; keep it a (quiet) NaN.
                let isNaN = (bits & 0x7fff_ffff) .> 0x7f80_0000
                rounded.replace(with: (bits &>> 16) | 0x40, where: isNaN)
                d.storeBytes(of: SIMD8<UInt16>(truncatingIfNeeded: rounded), toByteOffset: 2 * i, as: SIMD8<UInt16>.self)
                i += 8
            }
            while i < range.upperBound {
                let f = s.loadUnaligned(fromByteOffset: 4 * i, as: Float.self)
                d.storeBytes(of: HalfConversion.bf16(from: f), toByteOffset: 2 * i, as: UInt16.self)
                i += 1
            }
        }
    }

    private static func run(_ count: Int, _ body: (Range<Int>) -> Void) {
        if count < parallelThreshold {
            if count > 0 { body(0..<count) }
        } else {
            Parallel.forRanges(count, minimumChunk: parallelThreshold / 2, body)
        }
    }
}
