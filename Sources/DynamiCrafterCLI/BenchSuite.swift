import Foundation
import TensorCore
import TensorStorage

/// The measurements behind `dynamicrafter bench`.
struct BenchSuite {
    let repeats: Int
    let threads: Int
    var rows: [BenchRow] = []
    var notes: [String] = []
    /// Best fp32 GEMM rate with all threads in this run.
    var ceiling: Double?
    /// Copy bandwidth with all threads in this run (read + write bytes per second).
    var bandwidth: Double?

    init(repeats: Int, threads: Int) {
        self.repeats = repeats
        self.threads = threads
    }

    /// UNet Linear shapes M×N×K: proj_in/out at 320 channels over 32 frames of 32×32, the GEGLU
    /// projection 320→2560, a 1280-wide layer over 32 frames of 16×16, and a square problem.
    static let gemmShapes: [(m: Int, n: Int, k: Int)] = [
        (32768, 320, 320), (32768, 2560, 320), (8192, 1280, 1280), (2048, 2048, 2048),
    ]

    private static func random(_ shape: [Int], seed: UInt64) -> Tensor {
        var state = seed
        return Tensor(shape: shape) { p in
            for i in p.indices {
                state = state &* 6364136223846793005 &+ 1442695040888963407
                p[i] = Float(Int32(truncatingIfNeeded: state >> 33)) / Float(Int32.max)
            }
        }
    }

    mutating func gemmCeiling(_ b: any ComputeBackend, precisions: [Precision], singleThread: Bool) throws {
        for threadCount in singleThread ? [1, threads] : [threads] {
            Threading.configure(threads: threadCount)
            defer { Threading.configure(threads: threads) }
            for p in precisions {
                for s in Self.gemmShapes {
                    let w = TensorData(Self.random([s.n, s.k], seed: 1))
                    let op = try b.makeLinear(weight: w, bias: nil, precision: p)
                    let x = Self.random([s.m, s.k], seed: 2)
                    let t = try BenchMeasure.median(repeats: repeats) { _ = try op.callAsFunction(x) }
                    let row = BenchRow(kernel: "linear \(s.m)x\(s.n)x\(s.k)", backend: b.kind.rawValue,
                                       precision: p.rawValue, threads: threadCount, seconds: t,
                                       flops: 2 * Double(s.m * s.n * s.k), bytes: nil, note: "ceiling")
                    if p == .f32, threadCount == threads, let g = row.gflops { ceiling = max(ceiling ?? 0, g) }
                    rows.append(row)
                }
            }
        }
    }

    /// Copy bandwidth over a buffer much larger than the caches, with all threads.
    mutating func copyBandwidth() {
        let count = 64 << 20 // 256 MB of floats
        let src = UnsafeMutablePointer<Float>.allocate(capacity: count)
        let dst = UnsafeMutablePointer<Float>.allocate(capacity: count)
        defer { src.deallocate(); dst.deallocate() }
        src.initialize(repeating: 1, count: count)
        dst.initialize(repeating: 0, count: count)
        let s = UncheckedSendable(src), d = UncheckedSendable(dst)
        let t = BenchMeasure.median(repeats: repeats) {
            Parallel.forRanges(count, minimumChunk: 1 << 20) { r in
                (d.value + r.lowerBound).update(from: s.value + r.lowerBound, count: r.count)
            }
        }
        let row = BenchRow(kernel: "memory copy 256 MB", backend: "-", precision: "-", threads: threads,
                           seconds: t, flops: nil, bytes: 2 * Double(count * 4))
        bandwidth = row.gbps
        rows.append(row)
    }

    /// Convolutions and attention at the UNet's real sizes (256 model: 16 frames, batch 2 for
    /// classifier-free guidance, so 32 frames per call).
    mutating func convolutions(_ b: any ComputeBackend, precision p: Precision) throws {
        let name = b.kind.rawValue
        // 3×3 convolutions: level 1 (320 ch at 32×32) and level 4 (1280 ch at 4×4).
        for (c, hw) in [(320, 32), (1280, 4)] {
            let w = TensorData(Self.random([c, c, 3, 3], seed: 3))
            let x = Self.random([32, hw, hw, c], seed: 4)
            let flops = 2 * Double(32 * hw * hw * c * c * 9)
            let algorithms: [ConvAlgorithm] = b.kind == .onednn ? [.direct, .winograd] : [.direct]
            for a in algorithms {
                let op = try b.makeConv2d(weight: w, bias: nil, geometry: .square(3, stride: 1, padding: 1),
                                          precision: p, algorithm: a)
                let t = try BenchMeasure.median(repeats: repeats) { _ = try op.callAsFunction(x) }
                let note = op.algorithm == a ? "" : "\(a.rawValue) unavailable: ran \(op.algorithm.rawValue)"
                rows.append(BenchRow(kernel: "conv3x3 \(c)->\(c) 32x\(hw)x\(hw) \(a.rawValue)", backend: name,
                                     precision: p.rawValue, threads: threads, seconds: t, flops: flops,
                                     bytes: nil, note: note))
            }
        }
        // Temporal convolution (3×1×1 over 16 frames), 320 channels, 2 samples of 32×32.
        do {
            let w = TensorData(Self.random([320, 320, 3, 1], seed: 5))
            let x = Self.random([2, 16, 1024, 320], seed: 6)
            let op = try b.makeConv2d(weight: w, bias: nil, geometry: .temporal3, precision: p, algorithm: .auto)
            let t = try BenchMeasure.median(repeats: repeats) { _ = try op.callAsFunction(x) }
            rows.append(BenchRow(kernel: "temporal conv 320 2x16x1024", backend: name, precision: p.rawValue,
                                 threads: threads, seconds: t, flops: 2 * Double(2 * 16 * 1024 * 320 * 320 * 3),
                                 bytes: nil))
        }
    }

    /// Self-attention of the first UNet level, 5 heads of 64. Spatial: the latent's tokens per
    /// frame, 32 frames per call for the 256 model (16 frames × cond/uncond); the 512 (40×64 =
    /// 2,560 tokens) and 1024 (72×128 = 9,216 tokens) sizes on fewer frames, the rate per call
    /// being what matters. Temporal: 16 frames at each of 2·(h·w) positions.
    mutating func attentions(_ b: any ComputeBackend, precision p: Precision) throws {
        try attention(b, precision: p, kernel: "spatial attention 32x1024 5x64", batch: 32, length: 1024)
        try attention(b, precision: p, kernel: "spatial attention 4x2560 5x64 (512)", batch: 4, length: 2560)
        try attention(b, precision: p, kernel: "spatial attention 1x9216 5x64 (1024)", batch: 1, length: 9216)
        try attention(b, precision: p, kernel: "temporal attention 2048x16 5x64", batch: 2048, length: 16)
        try attention(b, precision: p, kernel: "temporal attention 5120x16 5x64 (512)", batch: 5120, length: 16)
        // The shared tiled kernel on the plain-loop GEMM (GEMMKernel.reference, the yardstick
        // the reference backend's products use), once per run and on two frames: what the
        // backends' own GEMMs gain over it.
        if b.kind == .onednn && p == .f32 {
            let shape = [2, 1024, 320]
            let q = Self.random(shape, seed: 10), k = Self.random(shape, seed: 11), v = Self.random(shape, seed: 12)
            let t = try BenchMeasure.median(repeats: repeats) {
                _ = try TiledAttention.run(q: q, k: k, v: v, heads: 5, scale: 0.125, precision: .f32, gemm: .reference)
            }
            rows.append(BenchRow(kernel: "spatial attention 2x1024 5x64, reference GEMM", backend: "shared",
                                 precision: p.rawValue, threads: threads, seconds: t,
                                 flops: 4 * Double(2 * 5 * 1024 * 1024 * 64), bytes: nil))
        }
        // The tiled kernel's block sizes at the 256 size (query rows × keys per step), to choose
        // its defaults by measurement on this CPU.
        if b.kind == .onednn && p == .f32 {
            let shape = [32, 1024, 320]
            let q = Self.random(shape, seed: 7), k = Self.random(shape, seed: 8), v = Self.random(shape, seed: 9)
            for (qb, kb) in [(64, 512), (64, 1024), (128, 256), (128, 1024), (32, 1024), (256, 256)] {
                let tiling = TiledAttention.Tiling(queryBlock: qb, keyBlock: kb)
                let t = try BenchMeasure.median(repeats: repeats) {
                    _ = try TiledAttention.run(q: q, k: k, v: v, heads: 5, scale: 0.125, precision: .f32,
                                               gemm: OneDNNBackend.singleThreadedGEMM, tiling: tiling)
                }
                rows.append(BenchRow(kernel: "spatial attention 32x1024 tiles \(qb)x\(kb)", backend: b.kind.rawValue,
                                     precision: p.rawValue, threads: threads, seconds: t,
                                     flops: 4 * Double(32 * 5 * 1024 * 1024 * 64), bytes: nil))
            }
        }
    }

    /// Self-attention over `batch` sequences of `length` tokens, 5 heads of 64 (320 channels).
    private mutating func attention(_ b: any ComputeBackend, precision p: Precision, kernel: String,
                                    batch: Int, length: Int) throws {
        let shape = [batch, length, 320]
        let q = Self.random(shape, seed: 7), k = Self.random(shape, seed: 8), v = Self.random(shape, seed: 9)
        let t = try BenchMeasure.median(repeats: repeats) {
            _ = try b.attention(q: q, k: k, v: v, heads: 5, scale: 0.125, precision: p)
        }
        rows.append(BenchRow(kernel: kernel, backend: b.kind.rawValue, precision: p.rawValue, threads: threads,
                             seconds: t, flops: 4 * Double(batch * 5 * length * length * 64), bytes: nil))
    }

    /// Memory-bound kernels shared by every backend.
    mutating func sharedKernels() throws {
        // GroupNorm over 32 frames of 320×32×32 (level-1 ResBlock), with and without fused SiLU;
        // memory traffic counted as one read and one write of the activation.
        let x = Self.random([32, 1024, 320], seed: 13)
        let gamma = Self.random([320], seed: 14), beta = Self.random([320], seed: 15)
        let bytes = 2 * Double(x.count * 4)
        for silu in [false, true] {
            let t = try BenchMeasure.median(repeats: repeats) {
                _ = try Kernels.groupNorm(x, groups: 32, eps: 1e-5, weight: gamma, bias: beta, silu: silu)
            }
            rows.append(BenchRow(kernel: "groupnorm\(silu ? "+silu" : "") 32x1024x320", backend: "shared",
                                 precision: "f32", threads: threads, seconds: t, flops: nil, bytes: bytes))
        }
        let tl = try BenchMeasure.median(repeats: repeats) {
            _ = try Kernels.layerNorm(x, weight: gamma, bias: beta, eps: 1e-5)
        }
        rows.append(BenchRow(kernel: "layernorm 32768x320", backend: "shared", precision: "f32",
                             threads: threads, seconds: tl, flops: nil, bytes: bytes))
        // GEGLU of the level-1 feed-forward: [32768, 2560] → [32768, 1280].
        let g = Self.random([32768, 2560], seed: 16)
        let tg = try BenchMeasure.median(repeats: repeats) { _ = try Kernels.geglu(g) }
        rows.append(BenchRow(kernel: "geglu 32768x2560", backend: "shared", precision: "f32",
                             threads: threads, seconds: tg, flops: nil, bytes: 1.5 * Double(g.count * 4)))
    }

    /// The memory-bound kernels between the GEMMs, on the 256 UNet's level-1 activation
    /// (32 frames of 32×32 × 320 channels, 42 MB). Bytes count one read of each input and one
    /// write of the output (an in-place kernel reads and writes its operand).
    mutating func elementwiseKernels() throws {
        let x = Self.random([32, 1024, 320], seed: 17)
        let bytes = Double(x.count * 4)
        func record(_ kernel: String, bytes: Double, _ body: () throws -> Void) rethrows {
            let t = try BenchMeasure.median(repeats: repeats, body)
            rows.append(BenchRow(kernel: kernel, backend: "shared", precision: "f32", threads: threads,
                                 seconds: t, flops: nil, bytes: bytes))
        }
        // GroupNorm with each sample's 16 frames in one set of statistics (the video UNet's
        // ResBlocks normalise over frames too), against the per-frame rows of `shared`.
        let gamma = Self.random([320], seed: 14), beta = Self.random([320], seed: 15)
        let joint = try x.reshaped([2, 16 * 1024, 320])
        try record("groupnorm 2x16384x320 (frames joint)", bytes: 2 * bytes) {
            _ = try Kernels.groupNorm(joint, groups: 32, eps: 1e-6, weight: gamma, bias: beta)
        }
        record("silu 32x1024x320", bytes: 2 * bytes) { _ = Kernels.silu(x) }
        record("gelu 32x1024x320", bytes: 2 * bytes) { _ = Kernels.gelu(x) }
        // In place: no output to allocate, so no fresh pages to fault in.
        var z = x
        record("silu in place 32x1024x320", bytes: 2 * bytes) { Kernels.siluInPlace(&z) }
        record("gelu in place 32x1024x320", bytes: 2 * bytes) { Kernels.geluInPlace(&z) }
        // What every fresh output pays before a kernel writes it.
        record("allocate + first touch 42 MB", bytes: bytes) { _ = Tensor(shape: x.shape, repeating: 0) }
        // The attention scores of one 1024-token frame for 5 heads.
        let scores = Self.random([5 * 1024, 1024], seed: 18)
        try record("softmax 5120x1024", bytes: 2 * Double(scores.count * 4)) { _ = try Kernels.softmax(scores) }
        // The residual add: reads both operands, writes one.
        var sum = x
        try record("residual add in place 32x1024x320", bytes: 3 * bytes) { try Kernels.addInPlace(&sum, x) }
        let nchw = try x.reshaped([32, 320, 32, 32])
        try record("NCHW->NHWC 32x320x32x32", bytes: 2 * bytes) { _ = try Layout.nchwToNHWC(nchw) }
        // Spatial ↔ temporal token order around the temporal transformers.
        let frames = try x.reshaped([2, 16, 1024, 320])
        try record("frames<->positions 2x16x1024x320", bytes: 2 * bytes) { _ = try Layout.swapFramesAndPositions(frames) }
        // Reads one input, writes four times as much.
        let small = try x.reshaped([32, 32, 32, 320])
        try record("upsample nearest 2x 32x32x32x320", bytes: 5 * bytes) { _ = try Kernels.upsampleNearest2x(small) }
    }
}
