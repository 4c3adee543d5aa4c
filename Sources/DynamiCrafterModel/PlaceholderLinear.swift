import TensorCore
import TensorStorage

/// A Linear layer of a `PlaceholderBackend`: its sizes, no weights.
struct PlaceholderLinear: LinearOperator {
    let inFeatures: Int
    let outFeatures: Int

    func callAsFunction(_ x: Tensor) throws -> Tensor {
        throw ParameterRecordingError.placeholderRun(operation: "Linear")
    }

    func callAsFunction(_ x: Tensor, addingTo residual: inout Tensor, atRow firstRow: Int) throws {
        throw ParameterRecordingError.placeholderRun(operation: "Linear")
    }
}
