import Foundation

/// Timing helpers for `dynamicrafter bench`: medians of repeated runs after a warm-up, since
/// the machines are shared and noisy.
enum BenchMeasure {
    private static let origin = ContinuousClock.now

    /// Monotonic seconds.
    static func now() -> Double {
        let d = origin.duration(to: .now)
        return Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }

    /// Runs `body` once to warm up, then `repeats` times; returns the median seconds.
    static func median(repeats: Int, _ body: () throws -> Void) rethrows -> Double {
        try body()
        var times: [Double] = []
        for _ in 0..<max(repeats, 1) {
            let t0 = now()
            try body()
            times.append(now() - t0)
        }
        times.sort()
        let n = times.count
        return n % 2 == 1 ? times[n / 2] : (times[n / 2 - 1] + times[n / 2]) / 2
    }
}

/// One line of the benchmark's report.
struct BenchRow {
    var kernel: String
    var backend: String
    var precision: String
    var threads: Int
    var seconds: Double
    /// Floating-point operations (2 per multiply-add) or, for memory-bound kernels, nil.
    var flops: Double?
    /// Bytes that must cross memory at least once, for memory-bound kernels.
    var bytes: Double?
    var note: String = ""

    var gflops: Double? { flops.map { $0 / seconds / 1e9 } }
    var gbps: Double? { bytes.map { $0 / seconds / 1e9 } }
}

/// Prints rows as an aligned table, with the fraction of the GEMM ceiling (compute-bound rows)
/// or of the measured copy bandwidth (memory-bound rows).
func printBenchTable(_ rows: [BenchRow], ceiling: Double?, bandwidth: Double?) {
    let header = ["kernel", "backend", "prec", "thr", "median ms", "rate", "of ceiling", "note"]
    var lines: [[String]] = [header]
    for r in rows {
        var rate = "", frac = ""
        if let g = r.gflops {
            rate = String(format: "%.1f GFLOP/s", g)
            if let ceiling, ceiling > 0 { frac = String(format: "%.0f%%", 100 * g / ceiling) }
        } else if let b = r.gbps {
            rate = String(format: "%.1f GB/s", b)
            if let bandwidth, bandwidth > 0 { frac = String(format: "%.0f%% (copy)", 100 * b / bandwidth) }
        }
        lines.append([r.kernel, r.backend, r.precision, String(r.threads),
                      String(format: "%.2f", r.seconds * 1e3), rate, frac, r.note])
    }
    var widths = [Int](repeating: 0, count: header.count)
    for l in lines { for (i, c) in l.enumerated() { widths[i] = max(widths[i], c.count) } }
    for l in lines {
        let cells = l.enumerated().map { i, c in
            i >= 3 && i <= 6 ? String(repeating: " ", count: widths[i] - c.count) + c
                             : c + String(repeating: " ", count: widths[i] - c.count)
        }
        print(cells.joined(separator: "  "))
    }
}
