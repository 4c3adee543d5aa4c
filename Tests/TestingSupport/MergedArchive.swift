import TensorCore
import Weights

/// Several weight files seen as one archive: the model fixtures are split into files of at
/// most ~1.5 MB (goldens plus weight parts), and the tests read them as one checkpoint.
public struct MergedArchive: WeightArchive {
    public let parts: [any WeightArchive]

    public init(parts: [any WeightArchive]) { self.parts = parts }

    public var path: String { parts.map(\.path).joined(separator: "+") }
    public var format: WeightFileFormat { parts[0].format }
    public var names: [String] {
        parts.flatMap(\.names).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }
    public func info(named name: String) -> TensorInfo? {
        for p in parts { if let i = p.info(named: name) { return i } }
        return nil
    }
    public func tensor(named name: String) throws -> TensorData {
        for p in parts where p.contains(name) { return try p.tensor(named: name) }
        return try parts[0].tensor(named: name) // raises the file's own "no tensor" error
    }
    public var metadata: [String: String] { parts[0].metadata }
    public var fileSize: Int { parts.reduce(0) { $0 + $1.fileSize } }
}
