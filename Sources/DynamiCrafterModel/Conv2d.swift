import TensorCore
import TensorStorage

/// A PyTorch `nn.Conv2d` with its weight packed once for the backend. Activations are
/// channels-last `[N, H, W, C]`; the checkpoint's weight is `[out, in, kh, kw]`. A Conv3d with
/// kernel (k, 1, 1) (the UNet's temporal convolution, weight `[out, in, k, 1, 1]`) and a Conv1d
/// (weight `[out, in, k]`) load through `init(_:inChannels:outChannels:stored:geometry:…)` with
/// the stored shape they have in the checkpoint.
public struct Conv2d: Sendable {
    public let op: any Conv2dOperator
    public var inChannels: Int { op.inChannels }
    public var outChannels: Int { op.outChannels }

    /// A square kernel `k` with `stride` and symmetric `padding`.
    public init(_ parameters: ParameterSource, inChannels: Int, outChannels: Int, kernel: Int,
                stride: Int = 1, padding: Int = 0, bias: Bool = true, context: ComputeContext) throws {
        try self.init(parameters, inChannels: inChannels, outChannels: outChannels,
                      stored: [outChannels, inChannels, kernel, kernel],
                      geometry: .square(kernel, stride: stride, padding: padding), bias: bias, context: context)
    }

    /// Any geometry; `stored` is the weight's shape in the checkpoint (same element count as
    /// `[out, in, kernelH, kernelW]`).
    public init(_ parameters: ParameterSource, inChannels: Int, outChannels: Int, stored: [Int],
                geometry: Conv2dGeometry, bias: Bool = true, context: ComputeContext) throws {
        let w = try parameters.tensor("weight", shape: stored)
            .reshaped([outChannels, inChannels, geometry.kernelH, geometry.kernelW])
        let b = bias ? try parameters.tensor("bias", shape: [outChannels]) : nil
        op = try context.backend.makeConv2d(weight: w, bias: b, geometry: geometry,
                                            precision: context.precision, algorithm: .auto)
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        try op.callAsFunction(x)
    }

    /// A residual connection `residual ← residual + self(x)`, in one pass where the backend can
    /// add while it writes.
    public func callAsFunction(_ x: Tensor, addingTo residual: inout Tensor) throws {
        try op.callAsFunction(x, addingTo: &residual)
    }
}

/// A PyTorch `nn.GroupNorm(groups, channels, eps)` on channels-last activations, optionally
/// followed by SiLU in the same pass (the reference's `norm → SiLU` pairs).
public struct GroupNorm: Sendable {
    public let weight: Tensor
    public let bias: Tensor
    public let groups: Int
    public let eps: Float
    public var channels: Int { weight.count }

    public init(_ parameters: ParameterSource, channels: Int, groups: Int = 32, eps: Float) throws {
        weight = try parameters.floats("weight", shape: [channels])
        bias = try parameters.floats("bias", shape: [channels])
        self.groups = groups
        self.eps = eps
    }

    /// `x` is `[N, positions…, C]`; statistics are per sample and group over all positions, so
    /// `[B, T·H·W, C]` normalises frames jointly and `[B·T, H·W, C]` frame by frame.
    public func callAsFunction(_ x: Tensor, silu: Bool = false) throws -> Tensor {
        try Kernels.groupNorm(x, groups: groups, eps: eps, weight: weight, bias: bias, silu: silu)
    }
}
