import CDNNL
import TensorStorage

/// The oneDNN backend (Debian's libdnnl 2.6): pre-packed matmul for Linear layers, direct and
/// (where the CPU has it) Winograd convolution on channels-last activations, bf16 kernels
/// where the CPU has them and bf16 emulation elsewhere, and `dnnl_sgemm` as the
/// single-threaded GEMM of the shared tiled-attention kernel.
///
/// Threads: oneDNN runs on OpenMP (Debian's build). `init` sets the creating thread's OpenMP
/// team size to `Threading.threadCount`, and every primitive is created and executed with the
/// calling thread's team size set to `Threading.threadCount` (and restored afterwards), since
/// OpenMP keeps that setting per thread. The backend starts no threads of its own.
public struct OneDNNBackend: ComputeBackend {
    let engine: OneDNNEngine

    /// Creates the CPU engine and probes what it runs; throws when oneDNN has no CPU engine.
    public init() throws {
        OpenMP.setNumThreads(Threading.threadCount)
        engine = try OneDNNEngine()
    }

    public var kind: BackendKind { .onednn }

    public var summary: String {
        let winograd = engine.winogradImplementation.map { "Winograd fp32 (\($0))" }
            ?? "no Winograd (direct convolution; oneDNN 2.x has fp32 Winograd only with AVX-512)"
        let bf16 = engine.bf16Implementation.map { "bf16 kernels (\($0))" }
            ?? "no bf16 kernels (bf16 weights widened for the fp32 kernels)"
        return "oneDNN \(engine.version), ISA \(engine.isa), OpenMP \(Threading.threadCount) threads; \(winograd); \(bf16)"
    }

    public var nativeBF16: Bool { engine.nativeBF16 }

    /// Whether bf16 models run on oneDNN's bf16 kernels here: only where they exist and timed
    /// faster than widening bf16 weights for the fp32 kernels (measured once per process).
    public var runsBF16Natively: Bool { OneDNNBF16Choice.nativeIsFaster(engine) }

    /// Whether oneDNN has an fp32 Winograd convolution on this CPU.
    public var winogradAvailable: Bool { engine.winogradAvailable }

    /// The instruction set oneDNN's kernels run here (`dnnl_get_effective_cpu_isa`), e.g. "avx2".
    public var isa: String { engine.isa }

    /// oneDNN's version, e.g. "2.6.3".
    public var version: String { engine.version }

    public func makeLinear(weight: TensorData, bias: TensorData?, precision: Precision) throws -> any LinearOperator {
        try OneDNNLinear(engine: engine, weight: weight, bias: bias, precision: precision)
    }

    public func makeConv2d(weight: TensorData, bias: TensorData?, geometry: Conv2dGeometry,
                           precision: Precision, algorithm: ConvAlgorithm) throws -> any Conv2dOperator {
        try OneDNNConv2d(engine: engine, weight: weight, bias: bias, geometry: geometry,
                         precision: precision, algorithm: algorithm)
    }
}
