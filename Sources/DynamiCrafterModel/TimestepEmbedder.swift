import TensorCore
import TensorStorage

/// The UNet's timestep / frame-stride MLP (`time_embed`, `fps_embedding`): the sinusoidal
/// embedding (cos first, float32) of width `modelChannels`, then Linear → SiLU → Linear.
public struct TimestepEmbedder: Sendable {
    public let modelChannels: Int
    public let linear1: Linear
    public let linear2: Linear

    public init(_ parameters: ParameterSource, modelChannels: Int, embedChannels: Int,
                context: ComputeContext) throws {
        self.modelChannels = modelChannels
        linear1 = try Linear(parameters.scoped("0"), inFeatures: modelChannels, outFeatures: embedChannels, context: context)
        linear2 = try Linear(parameters.scoped("2"), inFeatures: embedChannels, outFeatures: embedChannels, context: context)
    }

    /// The sinusoidal embedding `[n, modelChannels]`.
    public func sinusoidal(_ values: [Int]) throws -> Tensor {
        try Kernels.timestepEmbedding(values, dim: modelChannels)
    }

    /// The MLP applied to a sinusoidal embedding `[n, modelChannels]` → `[n, embedChannels]`.
    public func callAsFunction(_ sinusoidal: Tensor) throws -> Tensor {
        try linear2.callAsFunction(Kernels.silu(linear1.callAsFunction(sinusoidal)))
    }
}
