/// Which of PyTorch's CPU Box–Muller kernels `TorchRandom` reproduces for tensors of 16 or more
/// float32 elements. Both consume the same uniforms; they differ only in how log, sin and cos are
/// evaluated, by about one float32 ulp on some elements.
///
/// * `.avx2`: `NormalFill16` of ATen's AVX2 build (`avx_mathfun.h` `log256_ps` / `sincos256_ps`,
///   Cephes polynomials, with the multiply-adds GCC fuses in PyTorch's x86 wheels). PyTorch uses
///   it when its CPU dispatch level is AVX2 — x86-64 CPUs with AVX2 but not AVX-512 (most Intel
///   desktop CPUs, AMD up to Zen 3). Verified bit-exact against torch 2.13.0+cpu.
/// * `.scalar`: the portable kernel (`std::log`, `std::cos`, `std::sin` in float from the C
///   library). PyTorch uses it on AVX-512 dispatch (Intel Xeon, AMD Zen 4/5), on ARM, and with
///   `ATEN_CPU_CAPABILITY=default`. Bit-exact where PyTorch and this program use the same libm
///   (glibc here); verified against torch 2.13.0+cpu with `ATEN_CPU_CAPABILITY=default`.
///
/// Tensors with fewer than 16 elements always take PyTorch's float64 path, identical in both.
public enum TorchNormalKernel: String, Sendable, Hashable, CaseIterable {
    case avx2
    case scalar

    /// `.avx2` on x86-64 (the path of AVX2-level PyTorch), `.scalar` elsewhere.
    public static var platformDefault: TorchNormalKernel {
        #if arch(x86_64)
        .avx2
        #else
        .scalar
        #endif
    }
}
