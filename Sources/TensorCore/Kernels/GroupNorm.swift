import TensorStorage

#if canImport(Glibc)
import Glibc
#endif

/// Group normalisation on channels-last activations.
///
/// `x` is `[N, S..., C]`: statistics are taken per (sample n, group g) over every position in
/// `S...` and the `C/groups` channels of the group. The per-frame norm of 2-D blocks is the call
/// on `[B·T, H, W, C]`; the frame-joint norm of temporal layers is the same call on
/// `[B, T, H, W, C]` (or `[B, T·H·W, C]`).
extension Kernels {
    /// `GroupNorm(groups, eps)` with optional affine `weight`/`bias` `[C]`, optionally followed
    /// by SiLU (the ResBlocks' `GN → SiLU`, fused to save a pass over memory).
    public static func groupNorm(_ x: Tensor, groups: Int, eps: Float, weight: Tensor?, bias: Tensor?,
                                 silu: Bool = false) throws -> Tensor {
        let g = try GroupNormGeometry(shape: x.shape, groups: groups, weight: weight, bias: bias)
        var out = uninitialized(x.shape)
        if x.count == 0 { return out }
        let (scale, shift) = x.withUnsafeBufferPointer { px in
            groupNormCoefficients(px.baseAddress!, g, eps: eps, weight: weight, bias: bias)
        }
        x.withUnsafeBufferPointer { px in
            out.withUnsafeMutableBufferPointer { po in
                scale.withUnsafeBufferPointer { pa in
                    shift.withUnsafeBufferPointer { pb in
                        groupNormApply(px.baseAddress!, po.baseAddress!, g, pa.baseAddress!, pb.baseAddress!, silu: silu)
                    }
                }
            }
        }
        return out
    }

    /// Per-sample, per-channel `scale` and `shift` with `y = x·scale + shift`:
    /// `scale = rstd_g·w_c`, `shift = b_c − mean_g·scale` (the form PyTorch's CPU kernel uses).
    private static func groupNormCoefficients(_ x: UnsafePointer<Float>, _ g: GroupNormGeometry, eps: Float,
                                              weight: Tensor?, bias: Tensor?) -> ([Float], [Float]) {
        let (n, s, c) = (g.samples, g.positions, g.channels)
        // Split each sample's positions so that both workers have work even when N is 1 or 2
        // (the frame-joint norm runs on [B, T·H·W, C] with B = 1 or 2).
        let chunks = max(1, min(s / 64, (2 * Threading.threadCount + n - 1) / n))
        var chMean = [Double](repeating: 0, count: n * chunks * c)
        var chM2 = [Double](repeating: 0, count: n * chunks * c)
        var chCount = [Int](repeating: 0, count: n * chunks)
        chMean.withUnsafeMutableBufferPointer { pm in
            chM2.withUnsafeMutableBufferPointer { pq in
                chCount.withUnsafeMutableBufferPointer { pc in
                    let means = pm.baseAddress!, m2s = pq.baseAddress!, counts = pc.baseAddress!
                    Parallel.forEach(n * chunks) { task in
                        let sample = task / chunks, k = task % chunks
                        let lo = s * k / chunks, hi = s * (k + 1) / chunks
                        counts[task] = hi - lo
                        channelMoments(x + (sample * s + lo) * c, rows: hi - lo, channels: c,
                                       mean: means + task * c, m2: m2s + task * c)
                    }
                }
            }
        }
        // Combine chunks and the channels of each group: the total second moment about the
        // group mean is Σ (M2_part + count_part·(mean_part − mean)²), exact in any split.
        var scale = [Float](repeating: 0, count: n * c)
        var shift = [Float](repeating: 0, count: n * c)
        let cg = c / g.groups
        let w = weight?.scalars, b = bias?.scalars
        for sample in 0..<n {
            for group in 0..<g.groups {
                var total = 0.0, count = 0
                for k in 0..<chunks {
                    let t = sample * chunks + k
                    for ch in (group * cg)..<((group + 1) * cg) {
                        total += chMean[t * c + ch] * Double(chCount[t])
                        count += chCount[t]
                    }
                }
                let mean = total / Double(max(count, 1))
                var m2 = 0.0
                for k in 0..<chunks {
                    let t = sample * chunks + k
                    for ch in (group * cg)..<((group + 1) * cg) {
                        let d = chMean[t * c + ch] - mean
                        m2 += chM2[t * c + ch] + Double(chCount[t]) * d * d
                    }
                }
                let variance = m2 / Double(max(count, 1))
                let rstd = 1 / (variance + Double(eps)).squareRoot()
                for ch in (group * cg)..<((group + 1) * cg) {
                    let a = rstd * Double(w?[ch] ?? 1)
                    scale[sample * c + ch] = Float(a)
                    shift[sample * c + ch] = Float(Double(b?[ch] ?? 0) - mean * a)
                }
            }
        }
        return (scale, shift)
    }

    /// Per-channel mean and second central moment of `rows × channels` values, in blocks that
    /// stay in cache: each block is summed twice in float (mean, then squared deviations) and
    /// merged into double accumulators with Chan's formula, so long reductions lose nothing
    /// to cancellation or to float accumulation over thousands of rows.
    private static func channelMoments(_ x: UnsafePointer<Float>, rows: Int, channels c: Int,
                                       mean: UnsafeMutablePointer<Double>, m2: UnsafeMutablePointer<Double>) {
        mean.initialize(repeating: 0, count: c)
        m2.initialize(repeating: 0, count: c)
        guard rows > 0 else { return }
        let blockRows = max(8, 16_384 / c)
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * c + 8) { scratch in
            let sum = scratch.baseAddress!, sq = sum + c
            var done = 0
            var r0 = 0
            while r0 < rows {
                let nb = min(blockRows, rows - r0)
                let block = x + r0 * c
                sum.initialize(repeating: 0, count: c)
                sq.initialize(repeating: 0, count: c)
                for r in 0..<nb {
                    let row = block + r * c
                    var j = 0
                    while j + 8 <= c { store8(load8(sum + j) + load8(row + j), sum + j); j += 8 }
                    while j < c { sum[j] += row[j]; j += 1 }
                }
                let inv = 1 / Float(nb)
                var j = 0
                while j + 8 <= c { store8(load8(sum + j) * inv, sum + j); j += 8 }
                while j < c { sum[j] *= inv; j += 1 }
                for r in 0..<nb {
                    let row = block + r * c
                    j = 0
                    while j + 8 <= c {
                        let d = load8(row + j) - load8(sum + j)
                        store8(load8(sq + j).addingProduct(d, d), sq + j)
                        j += 8
                    }
                    while j < c { let d = row[j] - sum[j]; sq[j] += d * d; j += 1 }
                }
                // Chan: merge (done, mean, m2) with (nb, blockMean, blockM2).
                let na = Double(done), nbD = Double(nb), tot = na + nbD
                for ch in 0..<c {
                    let delta = Double(sum[ch]) - mean[ch]
                    mean[ch] += delta * nbD / tot
                    m2[ch] += Double(sq[ch]) + delta * delta * na * nbD / tot
                }
                done += nb
                r0 += nb
            }
        }
    }

    /// `y = x·scale + shift` (+ SiLU), rows in parallel.
    private static func groupNormApply(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                                       _ g: GroupNormGeometry, _ scale: UnsafePointer<Float>,
                                       _ shift: UnsafePointer<Float>, silu: Bool) {
        let (s, c) = (g.positions, g.channels)
        forChunks(g.samples * s, grain: max(1, parallelGrain / c)) { range in
            for row in range {
                let sample = row / s
                let a = scale + sample * c, b = shift + sample * c
                let src = x + row * c, dst = y + row * c
                var j = 0
                if silu {
                    while j + 8 <= c {
                        store8(VectorMath.silu(load8(b + j).addingProduct(load8(src + j), load8(a + j))), dst + j)
                        j += 8
                    }
                    if j < c {
                        let n = c - j
                        let v = loadPartial8(b + j, n).addingProduct(loadPartial8(src + j, n), loadPartial8(a + j, n))
                        storePartial8(VectorMath.silu(v), dst + j, n)
                    }
                } else {
                    while j + 8 <= c {
                        store8(load8(b + j).addingProduct(load8(src + j), load8(a + j)), dst + j)
                        j += 8
                    }
                    while j < c { dst[j] = b[j].addingProduct(src[j], a[j]); j += 1 }
                }
            }
        }
    }
}

/// Validated dimensions of a group-norm call.
struct GroupNormGeometry {
    let samples: Int, positions: Int, channels: Int, groups: Int

    init(shape: [Int], groups: Int, weight: Tensor?, bias: Tensor?) throws {
        guard shape.count >= 2 else {
            throw TensorError.shapeMismatch("groupNorm expects channels-last [N, ..., C], got \(Shape.describe(shape))")
        }
        let c = shape[shape.count - 1]
        guard groups > 0, c > 0, c % groups == 0 else {
            throw TensorError.invalidArgument("groupNorm: \(c) channels do not split into \(groups) groups")
        }
        try Kernels.checkChannelVector(weight, channels: c, what: "groupNorm weight")
        try Kernels.checkChannelVector(bias, channels: c, what: "groupNorm bias")
        samples = shape[0]
        positions = shape.dropFirst().dropLast().reduce(1, *)
        channels = c
        self.groups = groups
    }
}

extension Kernels.Reference {
    /// Two passes per (sample, group) in double precision.
    public static func groupNorm(_ x: Tensor, groups: Int, eps: Float, weight: Tensor?, bias: Tensor?,
                                 silu: Bool = false) throws -> Tensor {
        let g = try GroupNormGeometry(shape: x.shape, groups: groups, weight: weight, bias: bias)
        let (n, s, c) = (g.samples, g.positions, g.channels)
        let cg = c / groups
        let w = weight?.scalars, b = bias?.scalars
        var out = Tensor(zeros: x.shape)
        x.withUnsafeBufferPointer { px in
            out.withUnsafeMutableBufferPointer { po in
                for sample in 0..<n {
                    for group in 0..<groups {
                        var sum = 0.0
                        for p in 0..<s { for ch in 0..<cg { sum += Double(px[(sample * s + p) * c + group * cg + ch]) } }
                        let mean = sum / Double(s * cg)
                        var sq = 0.0
                        for p in 0..<s {
                            for ch in 0..<cg {
                                let d = Double(px[(sample * s + p) * c + group * cg + ch]) - mean
                                sq += d * d
                            }
                        }
                        let rstd = 1 / (sq / Double(s * cg) + Double(eps)).squareRoot()
                        for p in 0..<s {
                            for ch in 0..<cg {
                                let i = (sample * s + p) * c + group * cg + ch
                                var y = (Double(px[i]) - mean) * rstd * Double(w?[group * cg + ch] ?? 1) + Double(b?[group * cg + ch] ?? 0)
                                if silu { y = y / (1 + Glibc.exp(-y)) }
                                po[i] = Float(y)
                            }
                        }
                    }
                }
            }
        }
        return out
    }
}
