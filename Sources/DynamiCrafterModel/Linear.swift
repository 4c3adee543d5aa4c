import TensorCore
import TensorStorage

/// A PyTorch `nn.Linear` with its weight packed once for the backend. Input `[..., in]`,
/// output `[..., out]`; the checkpoint's weight is `[out, in]`.
public struct Linear: Sendable {
    public let op: any LinearOperator
    public var inFeatures: Int { op.inFeatures }
    public var outFeatures: Int { op.outFeatures }

    /// Loads `weight` (and `bias` when `bias` is true) from `parameters`, checking their shapes.
    public init(_ parameters: ParameterSource, inFeatures: Int, outFeatures: Int, bias: Bool = true,
                context: ComputeContext) throws {
        let w = try parameters.tensor("weight", shape: [outFeatures, inFeatures])
        let b = bias ? try parameters.tensor("bias", shape: [outFeatures]) : nil
        try self.init(weight: w, bias: b, context: context)
    }

    /// Packs (or, with streamed residency, maps) a loaded weight `[out, in]` and optional bias `[out]`.
    public init(weight: TensorData, bias: TensorData?, context: ComputeContext) throws {
        op = try context.backend.makeLinear(weight: weight, bias: bias, precision: context.precision,
                                            residency: context.residency)
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        try op.callAsFunction(x)
    }

    /// A residual connection `residual ← residual + self(x)`, in one pass where the backend can
    /// add while it writes; `residual` holds exactly the output's rows.
    public func callAsFunction(_ x: Tensor, addingTo residual: inout Tensor) throws {
        try op.callAsFunction(x, addingTo: &residual)
    }

    /// The same into rows `firstRow …` of a larger residual (a chunk of its rows).
    public func callAsFunction(_ x: Tensor, addingTo residual: inout Tensor, atRow firstRow: Int) throws {
        try op.callAsFunction(x, addingTo: &residual, atRow: firstRow)
    }
}
