import COpenBLAS
import TensorStorage

/// The portable baseline: every dense product is OpenBLAS's `cblas_sgemm` (threaded by
/// OpenBLAS's own pool), convolutions are im2col + GEMM in bounded chunks. OpenBLAS 0.3.21
/// exports no bf16 GEMM, so `.bf16` is emulated: operands rounded to bfloat16, fp32 products
/// and accumulation — the numbers of a bf16 GEMM, at fp32 speed.
public struct OpenBLASBackend: ComputeBackend {
    public init() {}

    public var kind: BackendKind { .openblas }
    public var nativeBF16: Bool { false }

    public var summary: String {
        let config = openblas_get_config().map { String(cString: $0) } ?? "unknown"
        let core = openblas_get_corename().map { String(cString: $0) } ?? "unknown"
        return "OpenBLAS (\(config); core \(core); \(openblas_get_num_threads()) threads; bf16 emulated)"
    }

    public func makeLinear(weight: TensorData, bias: TensorData?, precision: Precision) throws -> any LinearOperator {
        try OpenBLASLinear(weight: weight, bias: bias, precision: precision)
    }

    public func makeConv2d(weight: TensorData, bias: TensorData?, geometry: Conv2dGeometry,
                           precision: Precision, algorithm: ConvAlgorithm) throws -> any Conv2dOperator {
        try OpenBLASConv2d(weight: weight, bias: bias, geometry: geometry, precision: precision)
    }

    public func matmul(_ a: Tensor, _ b: Tensor, transposeA: Bool, transposeB: Bool,
                       alpha: Float, precision: Precision) throws -> Tensor {
        let p = try MatmulProblem(a.shape, b.shape, transposeA: transposeA, transposeB: transposeB)
        let a = precision == .bf16 ? Kernels.roundedToBF16(a) : a
        let b = precision == .bf16 ? Kernels.roundedToBF16(b) : b
        return Tensor(shape: p.outputShape) { c in
            if p.m * p.n == 0 { return }
            if p.k == 0 { c.update(repeating: 0); return }
            a.withUnsafeBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in
                    for i in 0..<p.batch {
                        Self.sgemm(transposeA, transposeB, p.m, p.n, p.k, alpha,
                                   pa.baseAddress! + i * p.m * p.k, transposeA ? p.m : p.k,
                                   pb.baseAddress! + i * p.k * p.n, transposeB ? p.k : p.n,
                                   0, c.baseAddress! + i * p.m * p.n, p.n)
                    }
                }
            }
        }
    }

    public func attention(q: Tensor, k: Tensor, v: Tensor, heads: Int, scale: Float,
                          precision: Precision) throws -> Tensor {
        // The tiled kernel fans out over our own workers, each running small GEMMs: OpenBLAS's
        // pool must stay idle meanwhile or the two would fight over the cores. Its thread
        // count is process-wide, so this is restored before returning.
        let threads = Int(openblas_get_num_threads())
        openblas_set_num_threads(1)
        defer { openblas_set_num_threads(Int32(threads)) }
        return try TiledAttention.run(q: q, k: k, v: v, heads: heads, scale: scale,
                                      precision: precision, gemm: Self.gemmKernel)
    }

    /// `cblas_sgemm` as a `GEMMKernel`. It is single-threaded only while OpenBLAS's thread
    /// count is 1 (as inside `attention`).
    public static let gemmKernel = GEMMKernel(name: "openblas") { tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc in
        sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
    }

    @inline(__always)
    static func sgemm(_ tA: Bool, _ tB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
                      _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
                      _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int) {
        cblas_sgemm(CblasRowMajor, tA ? CblasTrans : CblasNoTrans, tB ? CblasTrans : CblasNoTrans,
                    blasint(m), blasint(n), blasint(k), alpha, a, blasint(lda), b, blasint(ldb),
                    beta, c, blasint(ldc))
    }
}
