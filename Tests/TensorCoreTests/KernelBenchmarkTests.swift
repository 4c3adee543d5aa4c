import Foundation
import TensorStorage
import Testing
import TensorCore
#if canImport(Glibc)
import Glibc
#endif

/// Throughput of the kernels. Opt-in (`KERNEL_BENCH=1`) and meant for release builds:
/// `KERNEL_BENCH=1 swift test -c release -Xswiftc -enable-testing --filter KernelsBenchmarks`.
/// Rates are per wall-clock second; `cpu` is the process CPU time of the same call (all
/// threads), which is what to compare on a shared, loaded machine. `KERNEL_BENCH_MALLOPT=1`
/// keeps freed blocks in malloc's heap (no `munmap`), so fresh outputs stop paying page faults.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["KERNEL_BENCH"] != nil), .serialized)
struct KernelsBenchmarks {
    init() {
        if ProcessInfo.processInfo.environment["KERNEL_BENCH_MALLOPT"] != nil {
            // <malloc.h> is not part of the Glibc module: look mallopt up.
            typealias MallOpt = @convention(c) (Int32, Int32) -> Int32
            if let f = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") {
                let mallopt = unsafeBitCast(f, to: MallOpt.self)
                _ = mallopt(-4, 0) // M_MMAP_MAX: no mmap (the threshold caps at 32 MB)
                _ = mallopt(-1, Int32.max) // M_TRIM_THRESHOLD: never give the heap back
            }
        }
    }

    private var lastCPU = 0.0

    static func cpuSeconds() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
    }

    /// Median wall seconds of `runs` calls after one warm-up (the CPU time of that call is
    /// kept for `report`).
    mutating func time(runs: Int = 5, _ body: () throws -> Void) rethrows -> Double {
        try body()
        var samples: [(wall: Double, cpu: Double)] = []
        for _ in 0..<runs {
            let c0 = Self.cpuSeconds(), t0 = ContinuousClock.now
            try body()
            let d = ContinuousClock.now - t0
            samples.append((Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18, Self.cpuSeconds() - c0))
        }
        let median = samples.sorted { $0.wall < $1.wall }[runs / 2]
        lastCPU = median.cpu
        return median.wall
    }

    func report(_ what: String, _ seconds: Double, _ rate: String) {
        print(String(format: "BENCH %-52@ %9.3f ms (cpu %9.3f ms)  %@", what as NSString, seconds * 1e3, lastCPU * 1e3, rate as NSString))
    }

    @Test mutating func memoryBoundKernels() throws {
        let x = Compare.random([32, 32 * 32, 320], seed: 1)
        let w = Compare.random([320], seed: 2), b = Compare.random([320], seed: 3)
        let bytes = Double(x.count * 4)
        // GroupNorm streams x twice (statistics, then normalise) and writes y once.
        for silu in [false, true] {
            let t = try time { _ = try Kernels.groupNorm(x, groups: 32, eps: 1e-5, weight: w, bias: b, silu: silu) }
            report("groupNorm [32,1024,320]\(silu ? " +SiLU" : "")", t,
                   String(format: "%.1f GB/s (read+write), %.1f GB/s (all 3 passes)", 2 * bytes / t / 1e9, 3 * bytes / t / 1e9))
        }
        let joint = try x.reshaped([2, 16 * 1024, 320])
        let tj = try time { _ = try Kernels.groupNorm(joint, groups: 32, eps: 1e-6, weight: w, bias: b) }
        report("groupNorm frame-joint [2,16384,320]", tj, String(format: "%.1f GB/s", 2 * bytes / tj / 1e9))
        let tl = try time { _ = try Kernels.layerNorm(x, weight: w, bias: b, eps: 1e-5) }
        report("layerNorm [32768,320]", tl, String(format: "%.1f GB/s", 2 * bytes / tl / 1e9))
        var z = x
        let tsi = try time { Kernels.siluInPlace(&z) }
        report("siluInPlace 10.5M (no allocation)", tsi, String(format: "%.1f GB/s, %.2f Gelem/s", 2 * bytes / tsi / 1e9, Double(x.count) / tsi / 1e9))
        let tgi = try time { Kernels.geluInPlace(&z) }
        report("geluInPlace 10.5M (no allocation)", tgi, String(format: "%.1f GB/s, %.2f Gelem/s", 2 * bytes / tgi / 1e9, Double(x.count) / tgi / 1e9))
        let talloc = try time { _ = Tensor(shape: x.shape, repeating: 0) }
        report("allocate + first touch 42 MB (the VM's page faults)", talloc, String(format: "%.1f GB/s", bytes / talloc / 1e9))
        let ts = try time { _ = Kernels.silu(x) }
        report("silu 10.5M", ts, String(format: "%.1f GB/s, %.2f Gelem/s", 2 * bytes / ts / 1e9, Double(x.count) / ts / 1e9))
        let tg = try time { _ = Kernels.gelu(x) }
        report("gelu 10.5M", tg, String(format: "%.1f GB/s, %.2f Gelem/s", 2 * bytes / tg / 1e9, Double(x.count) / tg / 1e9))
        let ff = Compare.random([8192, 2560], seed: 4)
        let tgg = try time { _ = try Kernels.geglu(ff) }
        report("geglu [8192,2560]", tgg, String(format: "%.1f GB/s", 1.5 * Double(ff.count * 4) / tgg / 1e9))
        let sm = Compare.random([5 * 1024, 1024], seed: 5)
        let tsm = try time { _ = try Kernels.softmax(sm) }
        report("softmax [5120,1024]", tsm, String(format: "%.1f GB/s", 2 * Double(sm.count * 4) / tsm / 1e9))
        var y = x
        let ta = try time { try Kernels.addInPlace(&y, x) }
        report("addInPlace 10.5M", ta, String(format: "%.1f GB/s", 3 * bytes / ta / 1e9))
        let nchw = try x.reshaped([32, 320, 32, 32])
        let tp = try time { _ = try Layout.nchwToNHWC(nchw) }
        report("NCHW→NHWC [32,320,32,32]", tp, String(format: "%.1f GB/s", 2 * bytes / tp / 1e9))
        let frames = try x.reshaped([2, 16, 1024, 320])
        let tf = try time { _ = try Layout.swapFramesAndPositions(frames) }
        report("[B,T,S,C]→[B,S,T,C] [2,16,1024,320]", tf, String(format: "%.1f GB/s", 2 * bytes / tf / 1e9))
        let tu = try time { _ = try Kernels.upsampleNearest2x(try x.reshaped([32, 32, 32, 320])) }
        report("upsampleNearest2x [32,32,32,320]", tu, String(format: "%.1f GB/s", 5 * bytes / tu / 1e9))
    }

    func flops(_ b: Int, _ lq: Int, _ lk: Int, _ w: Int) -> Double { 4 * Double(b * lq * lk * w) }

    @Test mutating func shortAttention() throws {
        // Temporal attention of the 256 model at level 0 with CFG: (b h w) = 2·32·32 sequences of
        // 16 frames, 5 heads of 64 — the GEMM-free short path.
        let (tb, tl, tw) = (2 * 32 * 32, 16, 320)
        let q = Compare.random([tb, tl, tw], seed: 1), k = Compare.random([tb, tl, tw], seed: 2)
        let v = Compare.random([tb, tl, tw], seed: 3)
        for precision in [Precision.f32, .bf16] {
            let t = try time {
                _ = try TiledAttention.run(q: q, k: k, v: v, heads: 5, scale: 0.125, precision: precision, gemm: .reference)
            }
            report("short path [2048,16,5×64] \(precision)", t, String(format: "%.1f GFLOP/s", flops(tb, tl, tl, tw) / t / 1e9))
        }
        // A quarter of it: the 10 MB output comes back from malloc's heap without page faults.
        let (q4, k4, v4) = try (q.sliced(along: 0, range: 0..<512), k.sliced(along: 0, range: 0..<512), v.sliced(along: 0, range: 0..<512))
        for precision in [Precision.f32, .bf16] {
            let t = try time(runs: 21) {
                _ = try TiledAttention.run(q: q4, k: k4, v: v4, heads: 5, scale: 0.125, precision: precision, gemm: .reference)
            }
            report("short path [512,16,5×64] \(precision)", t, String(format: "%.1f GFLOP/s", flops(512, tl, tl, tw) / t / 1e9))
        }
    }

    @Test mutating func tiledAttention() throws {
        // Spatial self-attention of one 32×32 frame: 1024 × 1024, 5 heads of 64.
        let (sb, sl, sw) = (2, 1024, 320)
        let sq = Compare.random([sb, sl, sw], seed: 4), sk = Compare.random([sb, sl, sw], seed: 5)
        let sv = Compare.random([sb, sl, sw], seed: 6)
        let tr = try time(runs: 1) {
            _ = try TiledAttention.run(q: sq, k: sk, v: sv, heads: 5, scale: 0.125, precision: .f32, gemm: .reference)
        }
        report("tiled [2,1024,5×64] f32, GEMMKernel.reference", tr, String(format: "%.1f GFLOP/s", flops(sb, sl, sl, sw) / tr / 1e9))
        let to = try time(runs: 3) {
            _ = try OpenBLASBackend().attention(q: sq, k: sk, v: sv, heads: 5, scale: 0.125, precision: .f32)
        }
        report("tiled [2,1024,5×64] f32, OpenBLAS sgemm", to, String(format: "%.1f GFLOP/s", flops(sb, sl, sl, sw) / to / 1e9))
        // The 1024 model's longest attention: 9216 tokens (72×128 latent), one frame, 5 heads:
        // 109 GFLOP; its 1.7 GB of scores are never materialised (≈ 0.15 MB scratch per worker).
        let (lb, ll, lw) = (1, 9216, 320)
        let lq = Compare.random([lb, ll, lw], seed: 7), lk = Compare.random([lb, ll, lw], seed: 8)
        let lv = Compare.random([lb, ll, lw], seed: 9)
        let tlong = try time(runs: 1) {
            _ = try OpenBLASBackend().attention(q: lq, k: lk, v: lv, heads: 5, scale: 0.125, precision: .f32)
        }
        report("tiled [1,9216,5×64] f32, OpenBLAS sgemm", tlong, String(format: "%.1f GFLOP/s", flops(lb, ll, ll, lw) / tlong / 1e9))
    }
}
