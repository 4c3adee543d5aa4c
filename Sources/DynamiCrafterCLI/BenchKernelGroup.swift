import ArgumentParser
/// The groups of `dynamicrafter bench --kernels`.
enum BenchKernelGroup: String, CaseIterable, ExpressibleByArgument {
    /// 3×3 and temporal convolutions of the 256 UNet.
    case conv
    /// Spatial and temporal self-attention at the 256, 512 and 1024 sizes.
    case attention
    /// GroupNorm, LayerNorm, GEGLU (the backend-independent kernels).
    case shared
    /// The memory-bound kernels between those: activations (fresh output and in place),
    /// softmax, the residual add, layout permutations, nearest upsampling, frame-joint
    /// GroupNorm, and what a fresh output's first touch costs.
    case elementwise
}
