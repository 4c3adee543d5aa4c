import TensorCore
import TensorStorage

/// A convolution of a `PlaceholderBackend`: its sizes, no weights.
struct PlaceholderConv2d: Conv2dOperator {
    let inChannels: Int
    let outChannels: Int
    let geometry: Conv2dGeometry
    var algorithm: ConvAlgorithm { .direct }

    func callAsFunction(_ x: Tensor) throws -> Tensor {
        throw ParameterRecordingError.placeholderRun(operation: "Conv2d")
    }

    func callAsFunction(_ x: Tensor, addingTo residual: inout Tensor) throws {
        throw ParameterRecordingError.placeholderRun(operation: "Conv2d")
    }
}
