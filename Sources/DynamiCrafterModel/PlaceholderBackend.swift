import TensorCore
import TensorStorage

/// The backend of a `ParameterRecorder`'s context: it checks weight shapes as every backend
/// does (`LinearShapes`, `ConvShapes`) but packs nothing, so building the blocks against a
/// recorder costs neither time nor memory. Its operators and its dense calls throw.
public struct PlaceholderBackend: ComputeBackend {
    public init() {}

    /// The enumeration has no placeholder case; `reference` keeps every layer on the plain
    /// `makeLinear` path (never streamed), which is all a recording needs.
    public var kind: BackendKind { .reference }
    public var summary: String { "placeholder (records shapes, computes nothing)" }
    public var nativeBF16: Bool { false }

    public func makeLinear(weight: TensorData, bias: TensorData?, precision: Precision) throws -> any LinearOperator {
        let s = try LinearShapes(weight: weight, bias: bias)
        return PlaceholderLinear(inFeatures: s.inFeatures, outFeatures: s.outFeatures)
    }

    public func makeConv2d(weight: TensorData, bias: TensorData?, geometry: Conv2dGeometry,
                           precision: Precision, algorithm: ConvAlgorithm) throws -> any Conv2dOperator {
        let s = try ConvShapes(weight: weight, bias: bias, geometry: geometry)
        return PlaceholderConv2d(inChannels: s.inChannels, outChannels: s.outChannels, geometry: geometry)
    }

    public func matmul(_ a: Tensor, _ b: Tensor, transposeA: Bool, transposeB: Bool,
                       alpha: Float, precision: Precision) throws -> Tensor {
        throw ParameterRecordingError.placeholderRun(operation: "matmul")
    }

    public func attention(q: Tensor, k: Tensor, v: Tensor, heads: Int, scale: Float,
                          precision: Precision) throws -> Tensor {
        throw ParameterRecordingError.placeholderRun(operation: "attention")
    }
}
