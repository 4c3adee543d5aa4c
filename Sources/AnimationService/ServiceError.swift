/// Why a request to the animation service was refused or a job failed: one of the service's
/// documented error kinds and a message a person can act on. The D-Bus layer turns `kind` into
/// the error name `org.dynamicrafter.Animator1.Error.<kind>`.
public struct ServiceError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable, CaseIterable {
        /// An option or argument is unknown, of the wrong type, out of range or contradictory.
        case invalidArgument = "InvalidArgument"
        /// The image cannot be read or decoded, or is too large.
        case invalidImage = "InvalidImage"
        /// No such model, or no model named and no default.
        case modelNotFound = "ModelNotFound"
        /// The model's files could not be loaded.
        case modelLoadFailed = "ModelLoadFailed"
        /// The queue is full, or the request needs an idle service or a finished job.
        case busy = "Busy"
        /// The job was cancelled by its caller (or because its caller went away).
        case cancelled = "Cancelled"
        /// The service is stopping.
        case shuttingDown = "ShuttingDown"
        /// The model or the job needs more memory than the service can have (the message gives
        /// both figures and what would fit).
        case insufficientMemory = "InsufficientMemory"
        /// Anything else; the message has the details.
        case `internal` = "Internal"
    }

    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { "\(kind.rawValue): \(message)" }

    static func invalidArgument(_ message: String) -> ServiceError { ServiceError(.invalidArgument, message) }
    static func invalidImage(_ message: String) -> ServiceError { ServiceError(.invalidImage, message) }
    static func busy(_ message: String) -> ServiceError { ServiceError(.busy, message) }
    static func `internal`(_ message: String) -> ServiceError { ServiceError(.internal, message) }
}
