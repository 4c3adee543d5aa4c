/// An image or a preprocessing request that cannot be served, with a message a person can act
/// on. Callers that speak to users in their own error type (media, the daemon's service
/// errors) wrap it with the message kept.
public enum ImagingError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A size that is not positive, or too large to allocate or to pad.
    case invalidSize(String)
    /// Pixel bytes that do not fill the stated width and height exactly.
    case pixelCountMismatch(String)
    /// A tensor whose shape the operation cannot take.
    case shapeMismatch(String)

    public var description: String {
        switch self {
        case .invalidSize(let m): "invalid image size: \(m)"
        case .pixelCountMismatch(let m): "pixel count mismatch: \(m)"
        case .shapeMismatch(let m): "shape mismatch: \(m)"
        }
    }
}
