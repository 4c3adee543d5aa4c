/// The reference PyTorch fp32 figures for the full 256 model (random weights), copied from the
/// project's reference timings (PyTorch 2.13 + MKL + oneDNN, 2 threads, `torch.no_grad()`;
/// medians after a warm-up) and its performance notes. They were measured on another machine:
/// 2 vCPUs of an AMD EPYC Zen 5 with AVX-512 (incl. bf16), so seconds compare only loosely;
/// the fraction of each machine's own GEMM ceiling is the fair comparison.
enum ModelBenchReference {
    struct Stage: Sendable {
        var seconds: Double
        var gflop: Double
        var note: String
    }

    /// Keyed by `ModelBenchStage`; FLOPs from `torch.utils.flop_counter.FlopCounterMode`
    /// (mm, addmm, bmm, convolution: the same operations `CountingBackend` counts).
    static let stages: [ModelBenchStage: Stage] = [
        .unet: Stage(seconds: 55.5, gflop: 9807, note: "median of 3 after a 62.6 s warm-up"),
        .vae: Stage(seconds: 41.3, gflop: 9955, note: "median of 2 after warm-up"),
        .vaePerFrame: Stage(seconds: 30.2, gflop: 9955, note: "1 run"),
        .vision: Stage(seconds: 1.83, gflop: 335, note: "incl. kornia preprocess"),
        .resampler: Stage(seconds: 0.16, gflop: 30, note: "1 run"),
        .text: Stage(seconds: 0.317, gflop: 45, note: "incl. tokenizer"),
    ]

    /// UNet FLOPs by operation: convolutions 4 718, addmm 3 517, mm 1 279, bmm 293 GFLOP.
    static let unetBreakdown = "conv 4718, Linear with bias (addmm) 3517, Linear without bias (mm) 1279, attention (bmm) 293 GFLOP"

    /// Peak RSS of the Python process with the whole model resident, after a batched VAE decode.
    static let peakResidentGiB = 14.9
    /// RSS after building the full model (2.609 G fp32 parameters).
    static let loadedResidentGiB = 10.2
    /// Building the model on CPU from the configuration (random fill).
    static let buildSeconds = 34.0

    /// Their machine's fp32 GEMM ceilings: oneDNN 2.6 matmul with packed weights at UNet shapes
    /// (490–512 GFLOP/s; what `bench` measures here as the ceiling) and torch.matmul 2048³
    /// (209 GFLOP/s, as PyTorch itself reached it).
    static let oneDNNCeiling = 501.0
    static let torchMatmulCeiling = 209.0

    static let machine = "2 vCPU AMD EPYC Zen 5 (AVX-512, avx512_bf16), PyTorch 2.13 fp32, 2 threads"
}
