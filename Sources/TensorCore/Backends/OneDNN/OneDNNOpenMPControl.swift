#if canImport(Glibc)
import Glibc
#endif

/// `omp_get_max_threads` / `omp_set_num_threads` looked up once.
///
/// Same entry points as `OpenMP` (Backend/Threading.swift), which resolves them with `dlsym`
/// on every call (~0.15–0.5 µs each). `singleThreadedGEMM` makes three such calls around every
/// tile product, and a small attention tile takes only a few microseconds, so here the
/// pointers are resolved once. libgomp is loaded with libdnnl, which this module links, so the
/// lookup succeeds; if it did not, OpenMP is absent and oneDNN is single-threaded anyway.
enum OneDNNOpenMPControl {
    private typealias SetFn = @convention(c) (Int32) -> Void
    private typealias GetFn = @convention(c) () -> Int32

    private static let set: SetFn? = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "omp_set_num_threads")
        .map { unsafeBitCast($0, to: SetFn.self) }
    private static let get: GetFn? = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "omp_get_max_threads")
        .map { unsafeBitCast($0, to: GetFn.self) }

    /// The calling thread's OpenMP team size (1 without OpenMP).
    static func maxThreads() -> Int { get.map { Int($0()) } ?? 1 }

    /// Sets the calling thread's OpenMP team size.
    static func setNumThreads(_ n: Int) { set?(Int32(n)) }
}
