import DiffusionPipeline
import Foundation
import Weights
#if canImport(Glibc)
import Glibc
#endif

/// The process's resident memory, for the model benchmark's report.
struct ModelBenchMemory: Sendable {
    /// Peak resident set of the whole process (`getrusage` `ru_maxrss`, which the per-stage
    /// reset of `VmHWM` does not touch), bytes.
    var peak: Int
    /// Resident set now (`VmRSS`), bytes; nil where `/proc` is absent.
    var current: Int?

    static func now() -> ModelBenchMemory {
        ModelBenchMemory(peak: peakResidentBytes(), current: ProcessMemory.residentBytes)
    }

    static func peakResidentBytes() -> Int {
        var usage = rusage()
        guard getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage) == 0 else { return 0 }
        return Int(usage.ru_maxrss) * 1024 // kilobytes on Linux
    }

    var description: String {
        "peak RSS \(humanBytes(peak))" + (current.map { ", RSS now \(humanBytes($0))" } ?? "")
    }
}

/// CPU seconds (user + system) the process has used, all threads together: against wall time
/// it shows how much of the machine a run actually got on a shared host.
func processCPUSeconds() -> Double {
    var usage = rusage()
    guard getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage) == 0 else { return 0 }
    func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) * 1e-6 }
    return seconds(usage.ru_utime) + seconds(usage.ru_stime)
}
