import Foundation
import Weights
#if canImport(Glibc)
import Glibc
#endif

/// The process's resident memory, for the model benchmark's report.
struct ModelBenchMemory: Sendable {
    /// Peak resident set so far (`getrusage` `ru_maxrss`), bytes.
    var peak: Int
    /// Resident set now (`/proc/self/statm`), bytes; nil where that file is absent.
    var current: Int?

    static func now() -> ModelBenchMemory {
        ModelBenchMemory(peak: peakResidentBytes(), current: currentResidentBytes())
    }

    static func peakResidentBytes() -> Int {
        var usage = rusage()
        guard getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage) == 0 else { return 0 }
        return Int(usage.ru_maxrss) * 1024 // kilobytes on Linux
    }

    /// The second field of `/proc/self/statm` (resident pages) times the page size.
    static func currentResidentBytes() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return nil }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return nil }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
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
