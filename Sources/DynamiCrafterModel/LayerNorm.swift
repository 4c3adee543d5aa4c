import TensorCore
import TensorStorage

/// A PyTorch `nn.LayerNorm(width, eps)` with affine weight and bias, over the last axis.
public struct LayerNorm: Sendable {
    public let weight: Tensor
    public let bias: Tensor
    public let eps: Float
    public var width: Int { weight.count }

    public init(_ parameters: ParameterSource, width: Int, eps: Float = 1e-5) throws {
        weight = try parameters.floats("weight", shape: [width])
        bias = try parameters.floats("bias", shape: [width])
        self.eps = eps
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        try Kernels.layerNorm(x, weight: weight, bias: bias, eps: eps)
    }
}
