import DynamiCrafterModel
import TensorCore
import TensorStorage

/// The UNet as the sampler sees it (`DiffusionWrapper`, conditioning key "hybrid"): the image
/// latent is concatenated to x on the channel axis, and the conditional, unconditional and
/// image-only passes run as one batch.
struct GuidedUNet: NoisePredictor {
    struct Contexts {
        let conditional: Tensor
        let unconditional: Tensor?
        let imageOnly: Tensor?
    }

    let unet: UNet
    /// `[B, L, C]`: the contexts stacked in the order cond, uncond, image-only.
    let context: Tensor
    /// `[B, c, T, h, w]`: the image latent repeated for the batch.
    let imageLatent: Tensor
    let batch: Int
    let hasUnconditional: Bool
    let hasImageOnly: Bool
    let frameStride: Int
    let interrupt: () throws -> Void

    init(unet: UNet, contexts: Contexts, imageLatent: Tensor, frameStride: Int,
         interrupt: @escaping () throws -> Void) throws {
        var stack = [contexts.conditional]
        if let u = contexts.unconditional { stack.append(u) }
        if let i = contexts.imageOnly { stack.append(i) }
        self.unet = unet
        batch = stack.count
        hasUnconditional = contexts.unconditional != nil
        hasImageOnly = contexts.imageOnly != nil
        context = try Tensor.concatenated(stack, along: 0)
        self.imageLatent = try imageLatent.repeated(along: 0, count: stack.count)
        self.frameStride = frameStride
        self.interrupt = interrupt
    }

    func predictNoise(_ x: Tensor, step: DDIMStepCoefficients) throws -> NoisePrediction {
        try split(unet(x: input(x), timesteps: Array(repeating: step.timestep, count: batch), context: context,
                       fs: Array(repeating: frameStride, count: batch), interrupt: interrupt))
    }

    /// `predictNoise` for the run's `n`-th step with step caching: full or shallow as `cache`
    /// plans, which then keeps the pass's deep feature.
    func predictNoise(_ x: Tensor, step: DDIMStepCoefficients, number n: Int, cache: inout StepCache) throws -> NoisePrediction {
        let pass = try unet(x: input(x), timesteps: Array(repeating: step.timestep, count: batch), context: context,
                            fs: Array(repeating: frameStride, count: batch), deepPath: cache.path(forStep: n),
                            interrupt: interrupt)
        cache.record(pass)
        return try split(pass.output)
    }

    private func input(_ x: Tensor) throws -> Tensor {
        try Tensor.concatenated([x.repeated(along: 0, count: batch), imageLatent], along: 1)
    }

    private func split(_ out: Tensor) throws -> NoisePrediction {
        func row(_ i: Int) throws -> Tensor { try out.sliced(along: 0, range: i..<(i + 1)) }
        return NoisePrediction(conditional: try row(0),
                               unconditional: hasUnconditional ? try row(1) : nil,
                               imageOnly: hasImageOnly ? try row(2) : nil)
    }
}
