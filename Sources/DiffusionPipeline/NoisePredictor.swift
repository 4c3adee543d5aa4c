import TensorCore
import TensorStorage

/// The denoising network as the sampler sees it: given the current latent x and the step (its
/// training timestep and DDIM index), return the conditional and unconditional outputs.
///
/// The UNet wrapper adds the image latent (`c_concat`), the contexts and the fps / frame-stride
/// conditioning; the sampler knows none of that. Implementations may throw to cancel (the
/// sampler propagates the error unchanged).
public protocol NoisePredictor {
    func predictNoise(_ x: Tensor, step: DDIMStepCoefficients) throws -> NoisePrediction
}
