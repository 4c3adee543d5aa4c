import TensorStorage

/// Non-GEMM kernels shared by every backend: elementwise maps, norms, softmax, resampling,
/// layout changes, image preprocessing. Each optimised kernel has a plain twin in
/// `Kernels.Reference` that the tests compare it with.
///
/// Activations are channels-last inside the model (`[N, H, W, C]`, `[B, T, H, W, C]`, Linear
/// inputs `[..., C]`), so every kernel that has a channel axis takes it as the last one.
public enum Kernels {
    /// Plain loops with double-precision accumulation: slow, obviously correct.
    public enum Reference {}

    /// Rounds every element to the nearest bfloat16 (how the bf16 paths see their operands).
    public static func roundedToBF16(_ x: Tensor) -> Tensor {
        var y = x
        y.withUnsafeMutableBufferPointer { p in
            let base = p.baseAddress!
            forChunks(p.count) { r in
                var i = r.lowerBound
                while i + 8 <= r.upperBound {
                    store8(VectorMath.roundToBF16(load8(base + i)), base + i)
                    i += 8
                }
                while i < r.upperBound {
                    base[i] = HalfConversion.roundToBF16(base[i])
                    i += 1
                }
            }
        }
        return y
    }
}

extension Kernels.Reference {
    /// Element-by-element bf16 rounding.
    public static func roundedToBF16(_ x: Tensor) -> Tensor {
        var y = x
        y.withUnsafeMutableBufferPointer { p in
            for i in p.indices { p[i] = HalfConversion.roundToBF16(p[i]) }
        }
        return y
    }
}

// MARK: - Shared plumbing

extension Kernels {
    /// Below this many elements a map stays on the calling thread: fanning out to the
    /// Dispatch workers costs ~10–20 µs, the time to stream ~100 KB.
    static let parallelGrain = 1 << 15

    /// Splits `0..<count` over the workers in contiguous ranges of at least `grain` elements.
    @inline(__always)
    static func forChunks(_ count: Int, grain: Int = parallelGrain, _ body: (Range<Int>) -> Void) {
        Parallel.forRanges(count, minimumChunk: grain, body)
    }

    /// A tensor whose storage the caller will overwrite completely.
    @inline(__always)
    static func uninitialized(_ shape: [Int]) -> Tensor {
        Tensor(shape: shape, unsafeUninitialized: { _ in })
    }

    /// Checks a per-channel parameter (norm weight, bias) against the channel count.
    static func checkChannelVector(_ t: Tensor?, channels: Int, what: String) throws {
        guard let t else { return }
        guard t.count == channels, t.shape.count == 1 else {
            throw TensorError.shapeMismatch("\(what) must be [\(channels)], got \(Shape.describe(t.shape))")
        }
    }

    /// Resolves a possibly negative axis against a rank.
    static func resolveAxis(_ axis: Int, rank: Int, _ op: String) throws -> Int {
        let a = axis < 0 ? axis + rank : axis
        guard a >= 0, a < rank else {
            throw TensorError.invalidArgument("\(op): axis \(axis) out of range for rank \(rank)")
        }
        return a
    }

    /// Applies a lane-wise map from `src` to `dst` (tails through a zero-padded vector), in
    /// parallel. Generic over the map's type rather than taking a closure: a closure would be
    /// called indirectly per vector from the worker closure; a type gets specialised and inlined.
    @inline(__always)
    static func map<M: VectorMap>(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, count: Int, _ f: M) {
        forChunks(count) { r in
            var i = r.lowerBound
            while i + 16 <= r.upperBound {
                let a = f(load8(src + i)), b = f(load8(src + i + 8))
                store8(a, dst + i)
                store8(b, dst + i + 8)
                i += 16
            }
            while i + 8 <= r.upperBound {
                store8(f(load8(src + i)), dst + i)
                i += 8
            }
            if i < r.upperBound {
                let n = r.upperBound - i
                storePartial8(f(loadPartial8(src + i, n)), dst + i, n)
            }
        }
    }
}

/// A lane-wise function for `Kernels.map`.
protocol VectorMap {
    func callAsFunction(_ x: F8) -> F8
}

struct SiLUMap: VectorMap {
    @_transparent func callAsFunction(_ x: F8) -> F8 { VectorMath.silu(x) }
}

struct GELUMap: VectorMap {
    @_transparent func callAsFunction(_ x: F8) -> F8 { VectorMath.gelu(x) }
}

struct ScaleMap: VectorMap {
    let s: F8
    @_transparent func callAsFunction(_ x: F8) -> F8 { x * s }
}
