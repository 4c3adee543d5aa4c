import TensorCore
import TensorStorage

/// What one stage of the model benchmark measured.
struct ModelBenchResult {
    let stage: ModelBenchStage
    /// The work in words ("x [2,8,16,32,32] → …").
    let work: String
    let warmupTimes: [Double]
    let times: [Double]
    /// The backend's count of the last timed run.
    let tally: FLOPTally
    /// Wall seconds of the run `tally` comes from.
    let tallyWall: Double
    /// Whether every timed run did the same operations (it must: same inputs, same shapes).
    let workConsistent: Bool
    let outputShape: [Int]
    /// NaN and ±Inf in the last output.
    let nonFinite: Int
    /// Root mean square of the last output's finite values.
    let rms: Double
    let memoryAfter: ModelBenchMemory
    /// Peak RSS during the stage alone (VmHWM reset before it); nil where the kernel has no reset.
    var stagePeak: Int? = nil
    /// CPU seconds of the process over the timed runs, all threads together.
    let cpuSeconds: Double

    var median: Double {
        let t = times.sorted()
        let n = t.count
        guard n > 0 else { return 0 }
        return n % 2 == 1 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2
    }

    var gflop: Double { Double(tally.total.flops) / 1e9 }

    /// The share of `threads` CPUs the timed runs got: below ~0.9 other work competed for them.
    func cpuShare(threads: Int) -> Double {
        let wall = times.reduce(0, +)
        return wall > 0 ? cpuSeconds / (wall * Double(threads)) : 0
    }
    var gflops: Double { median > 0 ? gflop / median : 0 }

    /// Runs `body` `warmups` times (timed, but kept out of the median), then `repeats` times,
    /// resetting the counter before each run so that the tally is one run's.
    static func measure(_ stage: ModelBenchStage, work: String, warmups: Int, repeats: Int,
                        counter: FLOPCounter, _ body: () throws -> Tensor) throws -> ModelBenchResult {
        var warm: [Double] = []
        for _ in 0..<warmups {
            counter.reset()
            let t0 = BenchMeasure.now()
            _ = try body()
            warm.append(BenchMeasure.now() - t0)
        }
        var times: [Double] = []
        var tallies: [FLOPTally] = []
        var output = Tensor(zeros: [0])
        let cpuStart = processCPUSeconds()
        for _ in 0..<max(repeats, 1) {
            counter.reset()
            let t0 = BenchMeasure.now()
            output = try body()
            times.append(BenchMeasure.now() - t0)
            tallies.append(counter.take())
        }
        let cpu = processCPUSeconds() - cpuStart
        let last = tallies[tallies.count - 1]
        let consistent = tallies.allSatisfy { $0.work == last.work }
        var bad = 0
        var sumSquares = 0.0
        output.withUnsafeBufferPointer { p in
            for v in p {
                if v.isFinite { sumSquares += Double(v) * Double(v) } else { bad += 1 }
            }
        }
        let good = output.count - bad
        return ModelBenchResult(stage: stage, work: work, warmupTimes: warm, times: times, tally: last,
                                tallyWall: times[times.count - 1], workConsistent: consistent,
                                outputShape: output.shape, nonFinite: bad,
                                rms: good > 0 ? (sumSquares / Double(good)).squareRoot() : 0,
                                memoryAfter: ModelBenchMemory.now(), cpuSeconds: cpu)
    }
}
