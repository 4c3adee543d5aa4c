/// A media operation that failed, with a message a person can act on: what went wrong, on
/// which file, and GStreamer's own words where GStreamer was the one that refused.
public struct MediaError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable, Equatable {
        /// The input is not an image GStreamer can decode (corrupt, truncated, empty, not an image).
        case undecodable
        /// The image is larger than the `ImageLimits` allow.
        case tooLarge
        /// The path names no output format this module writes.
        case unsupportedFormat
        /// A GStreamer element this operation needs is not installed.
        case missingElement
        /// Reading or writing the file system failed (missing file, permissions, full disk…).
        case io
        /// The caller's cancellation check returned true.
        case cancelled
        /// The frames were handed over but the encoder or muxer failed.
        case encodeFailed
        /// The arguments themselves are unusable (no frames, mixed sizes, bad fps…).
        case invalidInput
        /// A pipeline made no progress within its time limit.
        case timedOut
    }

    public let kind: Kind
    /// The file the operation was about, when there is one.
    public let path: String?
    public let message: String

    public init(_ kind: Kind, path: String? = nil, _ message: String) {
        self.kind = kind
        self.path = path
        self.message = message
    }

    public var description: String {
        if let path { return "\(path): \(message)" }
        return message
    }
}
