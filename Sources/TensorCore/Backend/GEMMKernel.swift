/// A single-threaded, row-major SGEMM: `C = alpha·op(A)·op(B) + beta·C` with op(A) m×k and
/// op(B) k×n. Shared kernels (tiled attention, chunked im2col convolution) run it from
/// `Parallel` workers, so it must never start threads of its own.
public struct GEMMKernel: Sendable {
    public typealias Function = @Sendable (
        _ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int,
        _ alpha: Float, _ a: UnsafePointer<Float>, _ lda: Int,
        _ b: UnsafePointer<Float>, _ ldb: Int,
        _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int) -> Void

    public let name: String
    public let run: Function

    public init(name: String, run: @escaping Function) {
        self.name = name
        self.run = run
    }

    /// Plain loops, the yardstick.
    public static let reference = GEMMKernel(name: "reference") { tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc in
        for i in 0..<m {
            for j in 0..<n {
                var s: Float = 0
                for p in 0..<k {
                    let av = tA ? a[p * lda + i] : a[i * lda + p]
                    let bv = tB ? b[j * ldb + p] : b[p * ldb + j]
                    s += av * bv
                }
                c[i * ldc + j] = alpha * s + (beta == 0 ? 0 : beta * c[i * ldc + j])
            }
        }
    }
}
