/// Errors raised by tensor storage and by the tensor core above it (one type for both: a shape
/// or dtype problem reads the same whether a stored tensor or a kernel found it). Each carries
/// a message a person can act on.
public enum TensorError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Operand shapes do not fit the operation.
    case shapeMismatch(String)
    /// A dtype the operation cannot take.
    case unsupportedDType(DType, String)
    /// The backend cannot run this operation (missing library support, CPU feature, …).
    case unsupported(String)
    /// The backend library reported a failure.
    case backendFailure(String)
    /// An argument is outside its valid range.
    case invalidArgument(String)

    public var description: String {
        switch self {
        case .shapeMismatch(let m): "shape mismatch: \(m)"
        case .unsupportedDType(let d, let m): "unsupported dtype \(d.rawValue): \(m)"
        case .unsupported(let m): "unsupported: \(m)"
        case .backendFailure(let m): "backend failure: \(m)"
        case .invalidArgument(let m): "invalid argument: \(m)"
        }
    }
}

/// Shape helpers shared by storage and the kernels.
public enum Shape {
    /// Number of elements of a shape; nil when it overflows `Int`.
    public static func elementCount(_ shape: [Int]) -> Int? {
        var n = 1
        for d in shape {
            guard d >= 0 else { return nil }
            let (r, o) = n.multipliedReportingOverflow(by: d)
            if o { return nil }
            n = r
        }
        return n
    }

    public static func describe(_ shape: [Int]) -> String {
        "[" + shape.map(String.init).joined(separator: ", ") + "]"
    }
}
