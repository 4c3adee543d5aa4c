import TensorCore
import TensorStorage

/// Why the blocks could not be built against a `ParameterRecorder`, or why a block built that
/// way was asked to compute.
public enum ParameterRecordingError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Two requests for one key with different shapes: the blocks disagree about the checkpoint.
    case conflictingShapes(key: String, first: [Int], second: [Int])
    /// A block asked for a negative or overflowing shape (a configuration out of range).
    case invalidShape(key: String, shape: [Int])
    /// The placeholder of a tensor could not be mapped.
    case noAddressSpace(key: String, bytes: Int)
    /// A block built from placeholders was run (`operation` names what was called).
    case placeholderRun(operation: String)

    public var description: String {
        switch self {
        case .conflictingShapes(let k, let a, let b):
            "the model's blocks ask for \(k) with two shapes, \(Shape.describe(a)) and \(Shape.describe(b))"
        case .invalidShape(let k, let s): "\(k) would have the invalid shape \(Shape.describe(s))"
        case .noAddressSpace(let k, let n): "cannot reserve \(n) bytes of address space for the placeholder of \(k)"
        case .placeholderRun(let op): "\(op) was called on a block built from placeholder weights (a shape recording)"
        }
    }
}
