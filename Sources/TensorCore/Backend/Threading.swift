import COpenBLAS
import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// One place that decides how many threads the dense work uses.
///
/// Three runtimes can spin threads in this process: our own workers (`Parallel`), OpenBLAS's
/// pthread pool and oneDNN's OpenMP team. On a 2-core machine any two of them busy at once
/// halve each other's speed, so all three get the same count and only one of them is busy at a
/// time: a kernel either calls a multi-threaded library routine from one thread, or fans out
/// over `Parallel` workers that each call a single-threaded `GEMMKernel`.
public enum Threading {
    private static let configured = Atomic<Int>(0)

    /// Threads to use: the configured count, or the CPUs this process may run on.
    public static var threadCount: Int {
        let n = configured.load(ordering: .relaxed)
        return n > 0 ? n : availableCPUs
    }

    /// CPUs online.
    public static var availableCPUs: Int {
        return max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }

    /// Sets the thread count of every runtime. `nil` or 0 means all available CPUs.
    public static func configure(threads: Int?) {
        let n = (threads ?? 0) > 0 ? threads! : availableCPUs
        configured.store(n, ordering: .relaxed)
        openblas_set_num_threads(Int32(n))
        OpenMP.setNumThreads(n)
    }
}

/// OpenMP entry points, looked up at run time: libgomp is loaded by oneDNN, and this module
/// must not link it itself (a second copy of the runtime would keep its own thread team).
public enum OpenMP {
    private typealias SetFn = @convention(c) (Int32) -> Void
    private typealias GetFn = @convention(c) () -> Int32

    private static func symbol(_ name: String) -> UnsafeMutableRawPointer? {
        dlsym(UnsafeMutableRawPointer(bitPattern: 0), name) // RTLD_DEFAULT
    }

    /// `omp_set_num_threads` for the calling thread's OpenMP context (a per-thread setting).
    public static func setNumThreads(_ n: Int) {
        guard let f = symbol("omp_set_num_threads") else { return }
        unsafeBitCast(f, to: SetFn.self)(Int32(n))
    }

    /// `omp_get_max_threads` of the calling thread, or 1 when OpenMP is not loaded.
    public static func maxThreads() -> Int {
        guard let f = symbol("omp_get_max_threads") else { return 1 }
        return Int(unsafeBitCast(f, to: GetFn.self)())
    }
}

/// Fans work out over `Threading.threadCount` workers.
public enum Parallel {
    /// Calls `body(i)` for every i in 0..<count, split into contiguous chunks, one per worker.
    /// Returns when all calls have finished. Small counts run inline.
    public static func forEach(_ count: Int, _ body: (Int) -> Void) {
        let workers = min(Threading.threadCount, count)
        if workers <= 1 {
            for i in 0..<count { body(i) }
            return
        }
        withoutActuallyEscaping(body) { body in
            // The workers only run inside this call; the kernels they run write disjoint ranges.
            let shared = UncheckedSendable(body)
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                let lo = count * w / workers, hi = count * (w + 1) / workers
                for i in lo..<hi { shared.value(i) }
            }
        }
    }

    /// Calls `body(range)` for contiguous ranges covering 0..<count, one per worker.
    public static func forRanges(_ count: Int, minimumChunk: Int = 1, _ body: (Range<Int>) -> Void) {
        let workers = max(1, min(Threading.threadCount, count / max(minimumChunk, 1)))
        if workers <= 1 {
            if count > 0 { body(0..<count) }
            return
        }
        withoutActuallyEscaping(body) { body in
            let shared = UncheckedSendable(body)
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                shared.value((count * w / workers)..<(count * (w + 1) / workers))
            }
        }
    }
}

/// Hands a value to `Parallel` workers that the caller guarantees to use safely (disjoint
/// writes, reads of data nobody mutates meanwhile).
public struct UncheckedSendable<Value>: @unchecked Sendable {
    public let value: Value
    public init(_ value: Value) { self.value = value }
}
