import TensorStorage

/// Layout changes: permutes (blocked transposes for the big ones), concatenation, slicing and
/// repetition. Reshapes are free (`Tensor.reshaped`): `[B, T, H, W, C]` and `[B·T, H, W, C]`
/// are the same bytes, as are `[B, T, H·W, C]` and `[B, T, H, W, C]`.
public enum Layout {
    /// `[N, C, H, W] → [N, H, W, C]` (reference layout → channels-last).
    public static func nchwToNHWC(_ x: Tensor) throws -> Tensor {
        try rank(x, 4, "nchwToNHWC").permuted([0, 2, 3, 1])
    }

    /// `[N, H, W, C] → [N, C, H, W]`.
    public static func nhwcToNCHW(_ x: Tensor) throws -> Tensor {
        try rank(x, 4, "nhwcToNCHW").permuted([0, 3, 1, 2])
    }

    /// `[B, C, T, H, W] → [B, T, H, W, C]` (reference video layout → channels-last frames).
    public static func ncthwToNTHWC(_ x: Tensor) throws -> Tensor {
        try rank(x, 5, "ncthwToNTHWC").permuted([0, 2, 3, 4, 1])
    }

    /// `[B, T, H, W, C] → [B, C, T, H, W]`.
    public static func nthwcToNCTHW(_ x: Tensor) throws -> Tensor {
        try rank(x, 5, "nthwcToNCTHW").permuted([0, 4, 1, 2, 3])
    }

    /// `[B, T, S, C] → [B, S, T, C]`: frames-major ↔ pixels-major, the rearrange around
    /// temporal attention (`(b t) (h w) c ↔ (b h w) t c`). Its own inverse.
    public static func swapFramesAndPositions(_ x: Tensor) throws -> Tensor {
        try rank(x, 4, "swapFramesAndPositions").permuted([0, 2, 1, 3])
    }

    private static func rank(_ x: Tensor, _ r: Int, _ op: String) throws -> Tensor {
        guard x.rank == r else {
            throw TensorError.shapeMismatch("\(op) expects a rank-\(r) tensor, got \(Shape.describe(x.shape))")
        }
        return x
    }
}

extension Tensor {
    /// `permute(axes)`: output axis i is input axis `axes[i]`.
    ///
    /// Axes that stay adjacent are merged first, so most model permutes become either row
    /// copies (the last axis stays last) or a batch of 2-D transposes done in 8×8 register
    /// blocks.
    public func permuted(_ axes: [Int]) throws -> Tensor {
        guard axes.count == rank, Set(axes) == Set(0..<rank) else {
            throw TensorError.invalidArgument("permuted: \(axes) is not a permutation of the \(rank) axes of \(Shape.describe(shape))")
        }
        let outShape = axes.map { shape[$0] }
        var out = Kernels.uninitialized(outShape)
        guard count > 0 else { return out }
        var inStrides = [Int](repeating: 1, count: rank)
        for i in stride(from: rank - 2, through: 0, by: -1) { inStrides[i] = inStrides[i + 1] * shape[i + 1] }
        // Merge runs of output axes that are consecutive in the input; drop size-1 axes.
        var dims: [Int] = [], strides: [Int] = []
        for (i, a) in axes.enumerated() where shape[a] > 1 {
            if let last = strides.last, i > 0, last == inStrides[a] * shape[a] {
                dims[dims.count - 1] *= shape[a]
                strides[strides.count - 1] = inStrides[a]
            } else {
                dims.append(shape[a]); strides.append(inStrides[a])
            }
        }
        withUnsafeBufferPointer { px in
            out.withUnsafeMutableBufferPointer { po in
                PermutePlan(dims: dims, inStrides: strides).run(px.baseAddress!, po.baseAddress!)
            }
        }
        return out
    }

    /// Joins tensors that agree on every axis but `axis`.
    public static func concatenated(_ tensors: [Tensor], along axis: Int) throws -> Tensor {
        guard let first = tensors.first else {
            throw TensorError.invalidArgument("concatenated: no tensors")
        }
        let a = try Kernels.resolveAxis(axis, rank: first.rank, "concatenated")
        var total = 0
        for t in tensors {
            guard t.rank == first.rank,
                  t.shape.enumerated().allSatisfy({ $0.offset == a || $0.element == first.shape[$0.offset] }) else {
                throw TensorError.shapeMismatch("concatenated along \(axis): \(tensors.map { Shape.describe($0.shape) }.joined(separator: ", ")) disagree off that axis")
            }
            total += t.shape[a]
        }
        var outShape = first.shape
        outShape[a] = total
        var out = Kernels.uninitialized(outShape)
        let outer = first.shape[..<a].reduce(1, *)
        let after = first.shape[(a + 1)...].reduce(1, *)
        let outRow = total * after
        guard out.count > 0 else { return out }
        out.withUnsafeMutableBufferPointer { po in
            let dst = po.baseAddress!
            var offset = 0
            for t in tensors {
                let inner = t.shape[a] * after
                t.withUnsafeBufferPointer { pt in
                    let src = pt.baseAddress!
                    if inner > 0 {
                        Kernels.forChunks(outer, grain: max(1, Kernels.parallelGrain / inner)) { r in
                            for o in r { (dst + o * outRow + offset).update(from: src + o * inner, count: inner) }
                        }
                    }
                }
                offset += inner
            }
        }
        return out
    }

    /// Elements `range` of `axis` (`x.narrow(axis, start, length)`, copied).
    public func sliced(along axis: Int, range: Range<Int>) throws -> Tensor {
        let a = try Kernels.resolveAxis(axis, rank: rank, "sliced")
        guard range.lowerBound >= 0, range.upperBound <= shape[a] else {
            throw TensorError.invalidArgument("sliced: range \(range) outside 0..<\(shape[a]) of axis \(axis) of \(Shape.describe(shape))")
        }
        var outShape = shape
        outShape[a] = range.count
        var out = Kernels.uninitialized(outShape)
        let outer = shape[..<a].reduce(1, *)
        let after = shape[(a + 1)...].reduce(1, *)
        let inner = range.count * after, inRow = shape[a] * after, start = range.lowerBound * after
        guard out.count > 0 else { return out }
        withUnsafeBufferPointer { px in
            out.withUnsafeMutableBufferPointer { po in
                let src = px.baseAddress!, dst = po.baseAddress!
                Kernels.forChunks(outer, grain: max(1, Kernels.parallelGrain / inner)) { r in
                    for o in r { (dst + o * inner).update(from: src + o * inRow + start, count: inner) }
                }
            }
        }
        return out
    }

    /// The whole tensor tiled `count` times along `axis` (`torch.repeat` on one axis):
    /// `[a, b]` along 0 twice → `[a, b, a, b]`.
    public func repeated(along axis: Int, count n: Int) throws -> Tensor {
        try repeatBlocks(along: axis, count: n, interleaved: false)
    }

    /// Each element repeated `count` times in place along `axis` (`repeat_interleave`):
    /// `[a, b]` along 0 twice → `[a, a, b, b]`.
    public func repeatedInterleaved(along axis: Int, count n: Int) throws -> Tensor {
        try repeatBlocks(along: axis, count: n, interleaved: true)
    }

    private func repeatBlocks(along axis: Int, count n: Int, interleaved: Bool) throws -> Tensor {
        let a = try Kernels.resolveAxis(axis, rank: rank, interleaved ? "repeatedInterleaved" : "repeated")
        guard n >= 0 else { throw TensorError.invalidArgument("repeat count \(n) is negative") }
        var outShape = shape
        outShape[a] *= n
        var out = Kernels.uninitialized(outShape)
        guard out.count > 0 else { return out }
        let outer = shape[..<a].reduce(1, *)
        let after = shape[(a + 1)...].reduce(1, *)
        // A unit is what gets copied n times in a row: one slice (interleaved) or the block.
        let unit = interleaved ? after : shape[a] * after
        let units = interleaved ? outer * shape[a] : outer
        withUnsafeBufferPointer { px in
            out.withUnsafeMutableBufferPointer { po in
                let src = px.baseAddress!, dst = po.baseAddress!
                Kernels.forChunks(units, grain: max(1, Kernels.parallelGrain / (unit * n))) { r in
                    for u in r {
                        for k in 0..<n { (dst + (u * n + k) * unit).update(from: src + u * unit, count: unit) }
                    }
                }
            }
        }
        return out
    }
}

/// A permute reduced to merged output dims with their input strides.
private struct PermutePlan {
    let dims: [Int]
    let inStrides: [Int]
    func run(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>) {
        let total = dims.reduce(1, *)
        guard let innerStride = inStrides.last, dims.count > 1 else {
            dst.update(from: src, count: total) // identity (or one merged axis)
            return
        }
        if innerStride == 1 {
            copyRows(src, dst)
        } else {
            transposeBlocks(src, dst)
        }
    }

    /// The last axis is contiguous on both sides: copy rows of `dims.last` floats.
    private func copyRows(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>) {
        let rowLength = dims[dims.count - 1]
        let outerDims = Array(dims.dropLast()), outerStrides = Array(inStrides.dropLast())
        let rows = outerDims.reduce(1, *)
        Kernels.forChunks(rows, grain: max(1, Kernels.parallelGrain / rowLength)) { r in
            var odometer = Odometer(dims: outerDims, strides: outerStrides, start: r.lowerBound)
            for row in r {
                (dst + row * rowLength).update(from: src + odometer.offset, count: rowLength)
                odometer.advance()
            }
        }
    }

    /// The output's last axis `m` is strided in the input and the input's contiguous axis `t`
    /// is strided in the output: for every index of the other axes, transpose the (t, m)
    /// plane in tiles. Tasks are (other index, strip of m) so that one big plane still splits.
    private func transposeBlocks(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>) {
        let m = dims.count - 1
        let t = inStrides.firstIndex(of: 1)! // the input's last axis survives merging with stride 1
        var outStrides = [Int](repeating: 1, count: dims.count)
        for i in stride(from: dims.count - 2, through: 0, by: -1) { outStrides[i] = outStrides[i + 1] * dims[i + 1] }
        let others = (0..<dims.count).filter { $0 != m && $0 != t }
        let otherDims = others.map { dims[$0] }
        let otherIn = others.map { inStrides[$0] }, otherOut = others.map { outStrides[$0] }
        let dm = dims[m], dt = dims[t], sm = inStrides[m], ot = outStrides[t]
        let strip = max(8, (4096 / max(dt, 1)) / 8 * 8) // ~16 KB of input per task
        let strips = (dm + strip - 1) / strip
        let planes = otherDims.reduce(1, *)
        Kernels.forChunks(planes * strips, grain: max(1, Kernels.parallelGrain / max(strip * dt, 1))) { r in
            for task in r {
                let plane = task / strips, s = task % strips
                var inBase = 0, outBase = 0, rest = plane
                for k in stride(from: others.count - 1, through: 0, by: -1) {
                    let i = rest % otherDims[k]
                    rest /= otherDims[k]
                    inBase += i * otherIn[k]; outBase += i * otherOut[k]
                }
                let m0 = s * strip, m1 = min(dm, m0 + strip)
                let i0 = src + inBase, o0 = dst + outBase
                // Eight input rows at a time, swept across all columns: the rows' cache lines
                // are reused by the next 8×8 block, and eight rows at a power-of-two stride
                // still fit one L1 set.
                var b0 = m0
                while b0 + 8 <= m1 {
                    var a0 = 0
                    while a0 + 8 <= dt {
                        transpose8x8(i0 + b0 * sm + a0, sm, o0 + a0 * ot + b0, ot)
                        a0 += 8
                    }
                    for a in a0..<dt {
                        for b in b0..<(b0 + 8) { o0[a * ot + b] = i0[b * sm + a] }
                    }
                    b0 += 8
                }
                for a in 0..<dt {
                    for b in b0..<m1 { o0[a * ot + b] = i0[b * sm + a] }
                }
            }
        }
    }
}

/// Walks a multi-index in row-major order, tracking the matching input offset.
private struct Odometer {
    let dims: [Int], strides: [Int]
    var index: [Int]
    var offset = 0

    init(dims: [Int], strides: [Int], start: Int) {
        self.dims = dims; self.strides = strides
        index = [Int](repeating: 0, count: dims.count)
        var rest = start
        for k in stride(from: dims.count - 1, through: 0, by: -1) {
            index[k] = rest % dims[k]
            rest /= dims[k]
            offset += index[k] * strides[k]
        }
    }

    mutating func advance() {
        var k = dims.count - 1
        while k >= 0 {
            index[k] += 1
            offset += strides[k]
            if index[k] < dims[k] { return }
            offset -= dims[k] * strides[k]
            index[k] = 0
            k -= 1
        }
    }
}

extension Kernels.Reference {
    /// Element-by-element permute through multi-indices.
    public static func permuted(_ x: Tensor, _ axes: [Int]) throws -> Tensor {
        guard axes.count == x.rank, Set(axes) == Set(0..<x.rank) else {
            throw TensorError.invalidArgument("permuted: \(axes) is not a permutation")
        }
        let outShape = axes.map { x.shape[$0] }
        var inStrides = [Int](repeating: 1, count: x.rank)
        for i in stride(from: x.rank - 2, through: 0, by: -1) { inStrides[i] = inStrides[i + 1] * x.shape[i + 1] }
        var out = Tensor(zeros: outShape)
        let src = x.scalars
        out.withUnsafeMutableBufferPointer { po in
            for flat in 0..<po.count {
                var rest = flat, offset = 0
                for k in stride(from: outShape.count - 1, through: 0, by: -1) {
                    offset += (rest % outShape[k]) * inStrides[axes[k]]
                    rest /= outShape[k]
                }
                po[flat] = src[offset]
            }
        }
        return out
    }
}
