/// A model that cannot be located or configured.
public struct ModelLocationError: Error, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
