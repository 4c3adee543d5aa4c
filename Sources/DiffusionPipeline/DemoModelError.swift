/// A demo model that cannot be made: a frame size outside what its architecture takes, or a
/// folder it cannot write into.
public struct DemoModelError: Error, Sendable, Equatable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
