import Foundation
import TensorCore
import TensorStorage
import Weights

/// The tables `dynamicrafter bench model` prints.
struct ModelBenchReport {
    let results: [ModelBenchResult]
    let ceilingBefore: Double?
    let ceilingAfter: Double?
    /// Whether the configuration is the real 256 model (the reference figures apply).
    let comparable: Bool
    let threads: Int

    /// The mean of the ceilings measured before and after the model ran.
    var ceiling: Double? {
        let c = [ceilingBefore, ceilingAfter].compactMap { $0 }
        return c.isEmpty ? nil : c.reduce(0, +) / Double(c.count)
    }

    func percentOfCeiling(_ gflops: Double) -> String {
        guard let ceiling, ceiling > 0 else { return "-" }
        return fixed(100 * gflops / ceiling, 0) + "%"
    }

    func printStages() {
        var rows: [[String]] = [["stage", "work", "runs s", "median s", "GFLOP", "GFLOP/s", "of ceiling",
                                 "CPU share", "output", "finite", "peak RSS after"]]
        for r in results {
            let runs = (r.warmupTimes.map { "(" + fixed($0, 2) + ")" } + r.times.map { fixed($0, 2) })
                .joined(separator: " ")
            let finite = r.nonFinite == 0 ? "yes, rms " + fixed(r.rms, 3) : "NO: \(r.nonFinite) NaN/Inf"
            rows.append([r.stage.rawValue, r.work, runs, fixed(r.median, 3), fixed(r.gflop, 1), fixed(r.gflops, 1),
                         percentOfCeiling(r.gflops), fixed(100 * r.cpuShare(threads: threads), 0) + "%",
                         Shape.describe(r.outputShape), finite,
                         humanBytes(r.memoryAfter.peak)])
        }
        printTable(rows, rightAligned: [3, 4, 5, 6, 7])
        if results.contains(where: { !$0.warmupTimes.isEmpty }) {
            print("(warm-up runs in parentheses, not in the median)")
        }
        print("(CPU share: process CPU time over wall time × \(threads) threads in the timed runs; well below 100% "
              + "means other processes took CPUs from this one, or the stage ran partly on one thread)")
        for r in results where !r.workConsistent {
            print("warning: \(r.stage.rawValue): the timed runs did different work (FLOP counts differ)")
        }
    }

    func printReference() {
        guard comparable else {
            print("reference figures: not shown (they are for the full 256 configuration)")
            return
        }
        print("Reference: PyTorch fp32 on \(ModelBenchReference.machine)")
        print("(a different machine: compare the fractions of each machine's own ceiling, not the seconds)")
        var rows: [[String]] = [["stage", "ours s", "theirs s", "theirs/ours", "ours GFLOP", "theirs GFLOP",
                                 "ours GFLOP/s", "theirs GFLOP/s", "ours of our ceiling",
                                 "theirs of oneDNN \(Int(ModelBenchReference.oneDNNCeiling))",
                                 "theirs of torch.mm \(Int(ModelBenchReference.torchMatmulCeiling))", "their note"]]
        for r in results {
            guard let ref = ModelBenchReference.stages[r.stage] else { continue }
            let theirRate = ref.gflop / ref.seconds
            rows.append([r.stage.rawValue, fixed(r.median, 2), fixed(ref.seconds, 3), fixed(ref.seconds / r.median, 2),
                         fixed(r.gflop, 0), fixed(ref.gflop, 0), fixed(r.gflops, 1), fixed(theirRate, 1),
                         percentOfCeiling(r.gflops),
                         fixed(100 * theirRate / ModelBenchReference.oneDNNCeiling, 0) + "%",
                         fixed(100 * theirRate / ModelBenchReference.torchMatmulCeiling, 0) + "%", ref.note])
        }
        printTable(rows, rightAligned: Array(1...10))
        print("their UNet FLOPs by operation: \(ModelBenchReference.unetBreakdown)")
    }

    /// Where each stage's time goes, from the backend's per-call timings.
    func printHotSpots() {
        var rows: [[String]] = [["stage", "operation", "calls", "GFLOP", "seconds", "of stage", "GFLOP/s", "of ceiling"]]
        for r in results {
            let wall = max(r.tallyWall, 1e-9)
            let ops = r.tally.operations.sorted { $0.value.seconds > $1.value.seconds }
            var inBackend = 0.0
            for (op, t) in ops {
                inBackend += t.seconds
                let rate = t.seconds > 0 ? Double(t.flops) / t.seconds / 1e9 : 0
                rows.append([r.stage.rawValue, op.description, String(t.calls), fixed(Double(t.flops) / 1e9, 1),
                             fixed(t.seconds, 3), fixed(100 * t.seconds / wall, 1) + "%", fixed(rate, 1),
                             percentOfCeiling(rate)])
            }
            let other = r.tallyWall - inBackend
            rows.append([r.stage.rawValue, "other (norms, activations, elementwise, layout)", "", "",
                         fixed(other, 3), fixed(100 * other / wall, 1) + "%", "", ""])
        }
        printTable(rows, rightAligned: [2, 3, 4, 5, 6, 7])
    }

    func printCeilings() {
        func show(_ c: Double?) -> String { c.map { fixed($0, 1) + " GFLOP/s" } ?? "-" }
        print("GEMM ceiling (best fp32 oneDNN matmul at UNet shapes, all threads): before \(show(ceilingBefore)), "
              + "after \(show(ceilingAfter)), used \(show(ceiling))")
    }
}

/// `v` with `decimals` digits after the point.
func fixed(_ v: Double, _ decimals: Int) -> String {
    String(format: "%.\(decimals)f", v)
}

/// Prints `rows` (the first is the header) as aligned columns; `rightAligned` are column indices.
func printTable(_ rows: [[String]], rightAligned: [Int]) {
    let columns = rows.map(\.count).max() ?? 0
    var widths = [Int](repeating: 0, count: columns)
    for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
    let right = Set(rightAligned)
    for row in rows {
        let cells = row.enumerated().map { i, c in right.contains(i) ? leftPad(c, widths[i]) : pad(c, widths[i]) }
        print(cells.joined(separator: "  ").trimmingTrailingSpaces())
    }
}

extension String {
    func trimmingTrailingSpaces() -> String {
        var s = self
        while s.last == " " { s.removeLast() }
        return s
    }
}
