import CDNNL
import TensorStorage
#if canImport(Glibc)
import Glibc
#endif

extension OneDNNBackend {
    /// Scaled-dot-product attention: the shared tiled kernel, fanned out over `Parallel`
    /// workers, each multiplying its tiles with `singleThreadedGEMM`.
    public func attention(q: Tensor, k: Tensor, v: Tensor, heads: Int, scale: Float,
                          precision: Precision) throws -> Tensor {
        _ = try AttentionProblem(q: q.shape, k: k.shape, v: v.shape, heads: heads)
        return try TiledAttention.run(q: q, k: k, v: v, heads: heads, scale: scale, precision: precision,
                                      gemm: Self.singleThreadedGEMM)
    }

    /// oneDNN's `dnnl_sgemm` (row-major) confined to the calling thread.
    ///
    /// `dnnl_sgemm` parallelises over the calling thread's OpenMP team, whose size is a
    /// per-thread setting; called from a `Parallel` worker it would start a second team per
    /// worker. So each call sets the calling thread's team size to one and restores it.
    /// Arguments come from the kernels that tile the work (not from user input); invalid ones
    /// are a programming error and stop the process with oneDNN's verdict.
    public static let singleThreadedGEMM = GEMMKernel(name: "onednn-sgemm") {
        transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc in
        guard m > 0, n > 0 else { return }
        if k == 0 { // C = beta·C; oneDNN's checks on lda/ldb are pointless here
            for i in 0..<m {
                for j in 0..<n { c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j] }
            }
            return
        }
        let saved = OneDNNOpenMPControl.maxThreads()
        if saved != 1 { OneDNNOpenMPControl.setNumThreads(1) }
        defer { if saved != 1 { OneDNNOpenMPControl.setNumThreads(saved) } }
        let status = dnnl_sgemm(transA ? 84 : 78, transB ? 84 : 78, // 'T' : 'N'
                                Int64(m), Int64(n), Int64(k), alpha, a, Int64(lda), b, Int64(ldb),
                                beta, c, Int64(ldc))
        precondition(status == dnnl_success,
                     "dnnl_sgemm(\(transA ? "T" : "N"), \(transB ? "T" : "N"), m \(m), n \(n), k \(k), lda \(lda), ldb \(ldb), ldc \(ldc)) returned \(OneDNNStatus.name(status))")
    }
}
