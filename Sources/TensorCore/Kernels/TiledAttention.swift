import TensorStorage

#if canImport(Glibc)
import Glibc
#endif

/// Scaled-dot-product attention shared by the backends, parameterised by their single-threaded
/// GEMM: `softmax(q·kᵀ·scale)·v` per (batch, head) on `[batch, length, heads·d]` operands (head h
/// owns channels h·d ..< (h+1)·d, the layout Linear layers produce).
///
/// Two paths:
/// * **Tiled** (long key sequences): each task takes a block of query rows of one (batch, head)
///   and streams the keys in blocks with an online softmax (running row max and sum; the
///   accumulator is rescaled when the max grows), so memory is `O(block²)` per worker whatever
///   the sequence length: Lq = Lk = 9216 with d = 64 needs ~0.15 MB of scratch per worker
///   (0.45 MB in bf16), not a 340 MB score matrix per head. QKᵀ and PV of a block are two calls
///   of the passed GEMM, on the operands in place (row stride heads·d) in fp32.
/// * **Short** (Lk ≤ `shortKeyLimit`, e.g. temporal attention over 16 frames, thousands of
///   (pixel, head) problems): no GEMM calls; per batch entry the k/v rows are copied once,
///   kᵀ of each head is built with 8×8 register transposes, and a register-blocked loop takes
///   four query rows at a time, vectorised over keys for the scores and over the head
///   dimension for P·V.
///
/// `precision: .bf16` rounds q, k, v and the probabilities before P·V to bfloat16 and
/// accumulates in fp32 (what a bf16 dot-product unit computes).
public enum TiledAttention {
    /// Block sizes. The defaults (128 query rows × 1,024 keys) give a worker 0.5 MB of scores
    /// plus the accumulator (and in bf16 the rounded q, k, v tiles) for d = 64, about one Zen 3
    /// L2; 1,024 keys cover the 256 model's whole sequence in one step (no rescaling of the online
    /// softmax). Measured with oneDNN's sgemm on two Zen 3 cores (`bench --kernels attention`,
    /// 32 × 1,024 tokens, quiet machine): 312 ms against 352 ms for the earlier 64 × 512; 128 × 256
    /// took 308 ms, 64 × 1,024 338 ms, 256 × 256 379 ms. Three runs on a loaded machine agreed
    /// (645–1,019 ms against 789–1,150 ms for 64 × 512).
    public struct Tiling: Sendable, Equatable {
        /// Query rows per task.
        public var queryBlock: Int
        /// Keys per online-softmax step.
        public var keyBlock: Int
        /// Key lengths at or below this take the GEMM-free short path.
        public var shortKeyLimit: Int

        public init(queryBlock: Int = 128, keyBlock: Int = 1024, shortKeyLimit: Int = 64) {
            self.queryBlock = queryBlock
            self.keyBlock = keyBlock
            self.shortKeyLimit = shortKeyLimit
        }

        public static let `default` = Tiling()
    }

    public static func run(q: Tensor, k: Tensor, v: Tensor, heads: Int, scale: Float,
                           precision: Precision, gemm: GEMMKernel) throws -> Tensor {
        try run(q: q, k: k, v: v, heads: heads, scale: scale, precision: precision, gemm: gemm, tiling: .default)
    }

    public static func run(q: Tensor, k: Tensor, v: Tensor, heads: Int, scale: Float,
                           precision: Precision, gemm: GEMMKernel, tiling: Tiling) throws -> Tensor {
        let s = try AttentionProblem(q: q.shape, k: k.shape, v: v.shape, heads: heads)
        guard tiling.queryBlock > 0, tiling.keyBlock > 0, tiling.shortKeyLimit >= 0 else {
            throw TensorError.invalidArgument("attention tiling needs positive block sizes, got \(tiling)")
        }
        var out = Kernels.uninitialized(q.shape)
        if s.queryLength == 0 || s.batch == 0 { return out }
        q.withUnsafeBufferPointer { pq in
            k.withUnsafeBufferPointer { pk in
                v.withUnsafeBufferPointer { pv in
                    out.withUnsafeMutableBufferPointer { po in
                        let io = Operands(q: pq.baseAddress!, k: pk.baseAddress!, v: pv.baseAddress!, out: po.baseAddress!,
                                          problem: s, scale: scale, bf16: precision == .bf16)
                        if s.keyLength <= tiling.shortKeyLimit {
                            runShort(io)
                        } else {
                            runTiled(io, gemm: gemm, tiling: tiling)
                        }
                    }
                }
            }
        }
        return out
    }

    /// Base pointers and geometry of one call.
    struct Operands {
        let q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>
        let out: UnsafeMutablePointer<Float>
        let problem: AttentionProblem
        let scale: Float
        let bf16: Bool
        var width: Int { problem.heads * problem.headDim }

        /// Start of row `i` of head `h` of batch `b` in q / out (`[B, Lq, W]`).
        func qRow(_ b: Int, _ i: Int, _ h: Int) -> Int { (b * problem.queryLength + i) * width + h * problem.headDim }
        /// Start of row `j` of head `h` of batch `b` in k / v (`[B, Lk, W]`).
        func kRow(_ b: Int, _ j: Int, _ h: Int) -> Int { (b * problem.keyLength + j) * width + h * problem.headDim }
    }

    // MARK: - Tiled path

    private static func runTiled(_ io: Operands, gemm: GEMMKernel, tiling: Tiling) {
        let p = io.problem
        let d = p.headDim, lq = p.queryLength, lk = p.keyLength, w = io.width
        let bk = min(tiling.keyBlock, lk)
        // With few keys a task can take more query rows for the same score-tile size: larger
        // GEMMs run closer to peak. Keep at least ~4 tasks per worker for balance.
        var bq = tiling.queryBlock
        if lk < tiling.keyBlock {
            bq = max(bq, min(512, tiling.queryBlock * tiling.keyBlock / lk) / 16 * 16)
        }
        bq = min(bq, lq)
        let problems = p.batch * p.heads
        let wanted = 4 * Threading.threadCount
        if problems * ((lq + bq - 1) / bq) < wanted {
            let perProblem = (wanted + problems - 1) / problems
            bq = max(min(tiling.queryBlock, bq), (lq + perProblem - 1) / perProblem)
        }
        let qBlocks = (lq + bq - 1) / bq
        let tasks = problems * qBlocks
        Parallel.forRanges(tasks) { range in
            // Per-worker scratch, allocated once per call.
            let tileCount = io.bf16 ? bq * d + 2 * bk * d : 0
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: bq * bk + bq * d + 2 * bq + tileCount)
            defer { scratch.deallocate() }
            let scores = scratch, acc = scores + bq * bk
            let rowMax = acc + bq * d, rowSum = rowMax + bq
            let qTile = rowSum + bq, kTile = qTile + bq * d, vTile = kTile + bk * d
            for task in range {
                let qb = task % qBlocks, problem = task / qBlocks
                let h = problem % p.heads, b = problem / p.heads
                let i0 = qb * bq, rows = min(bq, lq - i0)
                // Operands: the tensors themselves (row stride W) in f32; rounded copies in bf16.
                var qPtr = io.q + io.qRow(b, i0, h), ldq = w
                if io.bf16 {
                    gatherRows(qPtr, stride: w, rows: rows, width: d, into: qTile, roundBF16: true)
                    qPtr = UnsafePointer(qTile); ldq = d
                }
                for r in 0..<rows { rowMax[r] = -.infinity; rowSum[r] = 0 }
                var j0 = 0
                while j0 < lk {
                    let cols = min(bk, lk - j0)
                    var kPtr = io.k + io.kRow(b, j0, h), vPtr = io.v + io.kRow(b, j0, h), ldkv = w
                    if io.bf16 {
                        gatherRows(kPtr, stride: w, rows: cols, width: d, into: kTile, roundBF16: true)
                        gatherRows(vPtr, stride: w, rows: cols, width: d, into: vTile, roundBF16: true)
                        kPtr = UnsafePointer(kTile); vPtr = UnsafePointer(vTile); ldkv = d
                    }
                    gemm.run(false, true, rows, cols, d, io.scale, qPtr, ldq, kPtr, ldkv, 0, scores, cols)
                    for r in 0..<rows {
                        let row = scores + r * cols
                        let m = max(rowMax[r], maxOfRow(row, cols))
                        let sum = expShiftedRow(row, cols, shift: m, roundBF16: io.bf16)
                        if j0 > 0 {
                            // Rescale what earlier key blocks contributed to the new max.
                            let correction = expf(rowMax[r] - m)
                            rowSum[r] = rowSum[r] * correction + sum
                            if correction != 1 { scaleRow(acc + r * d, d, by: correction) }
                        } else {
                            rowSum[r] = sum
                        }
                        rowMax[r] = m
                    }
                    gemm.run(false, false, rows, d, cols, 1, scores, cols, vPtr, ldkv, j0 == 0 ? 0 : 1, acc, d)
                    j0 += cols
                }
                for r in 0..<rows {
                    let dst = io.out + io.qRow(b, i0 + r, h), src = acc + r * d
                    let inv = F8(repeating: 1 / rowSum[r])
                    var c = 0
                    while c + 8 <= d { store8(load8(src + c) * inv, dst + c); c += 8 }
                    while c < d { dst[c] = src[c] * inv[0]; c += 1 }
                }
            }
        }
    }

    /// Copies `rows` rows of `width` floats from a strided source into a dense tile.
    @inline(__always)
    static func gatherRows(_ src: UnsafePointer<Float>, stride: Int, rows: Int, width: Int,
                           into dst: UnsafeMutablePointer<Float>, roundBF16: Bool) {
        for r in 0..<rows {
            let s = src + r * stride, t = dst + r * width
            var c = 0
            if roundBF16 {
                while c + 8 <= width { store8(VectorMath.roundToBF16(load8(s + c)), t + c); c += 8 }
                while c < width { t[c] = HalfConversion.roundToBF16(s[c]); c += 1 }
            } else {
                t.update(from: s, count: width)
            }
        }
    }

    @inline(__always)
    static func maxOfRow(_ p: UnsafeMutablePointer<Float>, _ n: Int) -> Float {
        var m0 = F8(repeating: -.infinity), m1 = m0
        var j = 0
        while j + 16 <= n { m0 = vmax(m0, load8(p + j)); m1 = vmax(m1, load8(p + j + 8)); j += 16 }
        while j + 8 <= n { m0 = vmax(m0, load8(p + j)); j += 8 }
        var m = hmax(vmax(m0, m1))
        while j < n { m = max(m, p[j]); j += 1 }
        return m
    }

    /// `p ← exp(p − shift)` in place (optionally rounded to bf16); returns the sum of the
    /// unrounded values (the softmax denominator stays fp32-exact).
    @inline(__always)
    static func expShiftedRow(_ p: UnsafeMutablePointer<Float>, _ n: Int, shift: Float, roundBF16: Bool) -> Float {
        let sv = F8(repeating: shift)
        var s0 = F8(repeating: 0), s1 = s0
        var j = 0
        while j + 16 <= n {
            let a = VectorMath.expNonPositive(load8(p + j) - sv)
            let b = VectorMath.expNonPositive(load8(p + j + 8) - sv)
            s0 += a; s1 += b
            store8(roundBF16 ? VectorMath.roundToBF16(a) : a, p + j)
            store8(roundBF16 ? VectorMath.roundToBF16(b) : b, p + j + 8)
            j += 16
        }
        while j + 8 <= n {
            let a = VectorMath.expNonPositive(load8(p + j) - sv)
            s0 += a
            store8(roundBF16 ? VectorMath.roundToBF16(a) : a, p + j)
            j += 8
        }
        if j < n {
            let c = n - j
            // Pad lanes with −∞ so that they contribute exp(−∞) = 0 to the sum.
            let a = VectorMath.expNonPositive(loadPartial8(p + j, c, fill: -.infinity) - sv)
            s1 += a
            storePartial8(roundBF16 ? VectorMath.roundToBF16(a) : a, p + j, c)
        }
        return hsum(s0 + s1)
    }

    @inline(__always)
    static func scaleRow(_ p: UnsafeMutablePointer<Float>, _ n: Int, by s: Float) {
        let sv = F8(repeating: s)
        var j = 0
        while j + 8 <= n { store8(load8(p + j) * sv, p + j); j += 8 }
        while j < n { p[j] *= s; j += 1 }
    }

    // MARK: - Short path

    /// Query rows handled together: four rows share every k / v load.
    private static var rowGroup: Int { 4 }

    private static func runShort(_ io: Operands) {
        let p = io.problem
        let d = p.headDim, lq = p.queryLength, lk = p.keyLength, w = io.width
        let lkPad = (lk + 7) / 8 * 8, dPad = (d + 7) / 8 * 8
        // Tasks are (batch, block of query rows) with every head inside, so that q, k and v
        // are read as whole contiguous rows (sequential streams the prefetchers follow)
        // rather than as d-wide column strips per head.
        let wanted = 4 * Threading.threadCount
        var rowsPerChunk = min(lq, 64)
        if p.batch * ((lq + rowsPerChunk - 1) / rowsPerChunk) < wanted {
            let perBatch = (wanted + p.batch - 1) / p.batch
            rowsPerChunk = max(rowGroup, (lq + perBatch - 1) / perBatch)
        }
        rowsPerChunk = (rowsPerChunk + rowGroup - 1) / rowGroup * rowGroup
        let qChunks = (lq + rowsPerChunk - 1) / rowsPerChunk
        let padV = d % 8 != 0 // v chunks are read 8 lanes wide: a ragged head dim needs a padded copy
        Parallel.forRanges(p.batch * qChunks) { range in
            let kvCount = lk * w, qCount = rowsPerChunk * w
            let scratch = UnsafeMutablePointer<Float>.allocate(
                capacity: 2 * kvCount + qCount + d * lkPad + lk * dPad + rowGroup * lkPad)
            defer { scratch.deallocate() }
            let kBlock = scratch, vBlock = kBlock + kvCount, qBlock = vBlock + kvCount
            let kT = qBlock + qCount, vTile = kT + d * lkPad, probs = vTile + lk * dPad
            // Padding lanes (keys ≥ lk in kᵀ, channels ≥ d in the v tile) stay zero.
            kT.initialize(repeating: 0, count: d * lkPad)
            vTile.initialize(repeating: 0, count: lk * dPad)
            var loaded = -1
            for task in range {
                let b = task / qChunks, chunk = task % qChunks
                if loaded != b {
                    copyBlock(io.k + io.kRow(b, 0, 0), count: kvCount, into: kBlock, roundBF16: io.bf16)
                    copyBlock(io.v + io.kRow(b, 0, 0), count: kvCount, into: vBlock, roundBF16: io.bf16)
                    loaded = b
                }
                let start = chunk * rowsPerChunk, end = min(lq, start + rowsPerChunk)
                copyBlock(io.q + io.qRow(b, start, 0), count: (end - start) * w, into: qBlock, roundBF16: io.bf16)
                for h in 0..<p.heads {
                    transposeRows(kBlock + h * d, stride: w, rows: lk, width: d, into: kT, ld: lkPad, roundBF16: false)
                    var vBase = UnsafePointer(vBlock + h * d), ldv = w
                    if padV {
                        for j in 0..<lk { (vTile + j * dPad).update(from: vBlock + j * w + h * d, count: d) }
                        vBase = UnsafePointer(vTile); ldv = dPad
                    }
                    var i = 0
                    while i < end - start {
                        let rows = min(rowGroup, end - start - i)
                        // Missing rows of the last group repeat the last real row; not stored.
                        let q0 = UnsafePointer(qBlock + i * w + h * d)
                        let rowPointers = (q0, q0 + min(1, rows - 1) * w, q0 + min(2, rows - 1) * w, q0 + min(3, rows - 1) * w)
                        shortScores(rowPointers, kT, d: d, lkPad: lkPad, scale: io.scale, into: probs)
                        for r in 0..<rows {
                            shortSoftmax(probs + r * lkPad, lk: lk, lkPad: lkPad, roundBF16: io.bf16)
                        }
                        shortWeightedSum(probs, vBase, ldv: ldv, lk: lk, lkPad: lkPad, d: d, rows: rows,
                                         out: io.out + io.qRow(b, start + i, h), rowStride: w)
                        i += rows
                    }
                }
            }
        }
    }

    /// Copies `count` contiguous floats, optionally rounding them to bf16.
    @inline(__always)
    static func copyBlock(_ src: UnsafePointer<Float>, count: Int, into dst: UnsafeMutablePointer<Float>, roundBF16: Bool) {
        if roundBF16 {
            var i = 0
            while i + 8 <= count { store8(VectorMath.roundToBF16(load8(src + i)), dst + i); i += 8 }
            while i < count { dst[i] = HalfConversion.roundToBF16(src[i]); i += 1 }
        } else {
            dst.update(from: src, count: count)
        }
    }

    /// `dst[c·ld + j] = src[j·stride + c]` for `rows × width` values (optionally rounded to
    /// bf16): whole 8×8 blocks go through registers, the ragged edges element by element.
    static func transposeRows(_ src: UnsafePointer<Float>, stride: Int, rows: Int, width: Int,
                              into dst: UnsafeMutablePointer<Float>, ld: Int, roundBF16: Bool) {
        let fullRows = rows / 8 * 8, fullCols = width / 8 * 8
        var j = 0
        while j < fullRows {
            var c = 0
            while c < fullCols {
                transpose8x8(src + j * stride + c, stride, dst + c * ld + j, ld, roundBF16: roundBF16)
                c += 8
            }
            for cc in fullCols..<width {
                for jj in j..<(j + 8) { dst[cc * ld + jj] = bf16IfNeeded(src[jj * stride + cc], roundBF16) }
            }
            j += 8
        }
        for jj in fullRows..<rows {
            for c in 0..<width { dst[c * ld + jj] = bf16IfNeeded(src[jj * stride + c], roundBF16) }
        }
    }

    @inline(__always)
    private static func bf16IfNeeded(_ x: Float, _ round: Bool) -> Float {
        round ? HalfConversion.roundToBF16(x) : x
    }

    /// Scores of four query rows against all keys: for each 16 (or 8) keys, accumulators over
    /// the head dimension, every k load shared by the four rows.
    @inline(__always)
    private static func shortScores(_ q: (UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>),
                                    _ kT: UnsafePointer<Float>, d: Int, lkPad: Int, scale: Float,
                                    into s: UnsafeMutablePointer<Float>) {
        @inline(__always) func store(_ o: (F8, F8, F8, F8), _ c: Int) {
            store8(o.0 * scale, s + c)
            store8(o.1 * scale, s + lkPad + c)
            store8(o.2 * scale, s + 2 * lkPad + c)
            store8(o.3 * scale, s + 3 * lkPad + c)
        }
        var c = 0
        while c + 16 <= lkPad {
            let (lo, hi) = block4x16(q, kT + c, ldb: lkPad, k: d)
            store(lo, c)
            store(hi, c + 8)
            c += 16
        }
        if c < lkPad { store(block4x8(q, kT + c, ldb: lkPad, k: d), c) }
    }

    /// `Σ_e a_r[e] · b[e·ldb + 0 ..< 16]` for four rows r: the register block that both QKᵀ
    /// (a = query rows, b = transposed keys) and P·V (a = probability rows, b = values) use.
    /// Every load of `b` is shared by the four rows.
    @inline(__always)
    private static func block4x16(_ a: (UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>),
                                  _ b: UnsafePointer<Float>, ldb: Int, k: Int) -> (lo: (F8, F8, F8, F8), hi: (F8, F8, F8, F8)) {
        let (a0p, a1p, a2p, a3p) = a
        var a0 = F8(repeating: 0), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0
        var bp = b
        for e in 0..<k {
            let lo = load8(bp), hi = load8(bp + 8)
            let x0 = F8(repeating: a0p[e]), x1 = F8(repeating: a1p[e])
            let x2 = F8(repeating: a2p[e]), x3 = F8(repeating: a3p[e])
            a0 = a0.addingProduct(x0, lo); b0 = b0.addingProduct(x0, hi)
            a1 = a1.addingProduct(x1, lo); b1 = b1.addingProduct(x1, hi)
            a2 = a2.addingProduct(x2, lo); b2 = b2.addingProduct(x2, hi)
            a3 = a3.addingProduct(x3, lo); b3 = b3.addingProduct(x3, hi)
            bp += ldb
        }
        return ((a0, a1, a2, a3), (b0, b1, b2, b3))
    }

    /// The 8-wide tail of `block4x16`.
    @inline(__always)
    private static func block4x8(_ a: (UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>),
                                 _ b: UnsafePointer<Float>, ldb: Int, k: Int) -> (F8, F8, F8, F8) {
        let (a0p, a1p, a2p, a3p) = a
        var a0 = F8(repeating: 0), a1 = a0, a2 = a0, a3 = a0
        var bp = b
        for e in 0..<k {
            let v = load8(bp)
            a0 = a0.addingProduct(F8(repeating: a0p[e]), v)
            a1 = a1.addingProduct(F8(repeating: a1p[e]), v)
            a2 = a2.addingProduct(F8(repeating: a2p[e]), v)
            a3 = a3.addingProduct(F8(repeating: a3p[e]), v)
            bp += ldb
        }
        return (a0, a1, a2, a3)
    }

    /// Normalised probabilities of one row (the padding lanes end up 0).
    @inline(__always)
    private static func shortSoftmax(_ s: UnsafeMutablePointer<Float>, lk: Int, lkPad: Int, roundBF16: Bool) {
        for j in lk..<lkPad { s[j] = -.infinity }
        var m8 = F8(repeating: -.infinity)
        var j = 0
        while j < lkPad { m8 = vmax(m8, load8(s + j)); j += 8 }
        let m = F8(repeating: hmax(m8))
        var sum8 = F8(repeating: 0)
        j = 0
        while j < lkPad {
            let e = VectorMath.expNonPositive(load8(s + j) - m)
            sum8 += e
            store8(e, s + j)
            j += 8
        }
        let inv = F8(repeating: 1 / hsum(sum8))
        j = 0
        while j < lkPad {
            let pr = load8(s + j) * inv
            store8(roundBF16 ? VectorMath.roundToBF16(pr) : pr, s + j)
            j += 8
        }
    }

    /// `out[r] = Σ_j P[r, j]·v[j]` for up to four rows, 16 (or 8) output channels at a time.
    /// `v` rows are `ldv` apart and readable up to the head dim rounded up to 8.
    @inline(__always)
    private static func shortWeightedSum(_ probs: UnsafePointer<Float>, _ v: UnsafePointer<Float>, ldv: Int,
                                         lk: Int, lkPad: Int, d: Int, rows: Int,
                                         out: UnsafeMutablePointer<Float>, rowStride: Int) {
        let p0 = probs, p1 = probs + lkPad, p2 = probs + 2 * lkPad, p3 = probs + 3 * lkPad
        @inline(__always) func put(_ o: (F8, F8, F8, F8), _ c: Int) {
            let n = min(8, d - c)
            for r in 0..<rows {
                let x: F8
                switch r {
                case 0: x = o.0
                case 1: x = o.1
                case 2: x = o.2
                default: x = o.3
                }
                let dst = out + r * rowStride + c
                if n == 8 { store8(x, dst) } else { storePartial8(x, dst, n) }
            }
        }
        let p = (p0, p1, p2, p3)
        var c = 0
        while c + 16 <= d {
            let (lo, hi) = block4x16(p, v + c, ldb: ldv, k: lk)
            put(lo, c)
            put(hi, c + 8)
            c += 16
        }
        while c < d {
            put(block4x8(p, v + c, ldb: ldv, k: lk), c)
            c += 8
        }
    }
}
