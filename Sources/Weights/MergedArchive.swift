import TensorStorage

/// Several weight files seen as one archive (a checkpoint split into parts, e.g. the test
/// fixtures, which are kept in files of at most ~1.5 MB). A name held by several parts resolves
/// to the first part that has it.
public struct MergedArchive: WeightArchive {
    public let parts: [any WeightArchive]

    public init(parts: [any WeightArchive]) throws {
        guard !parts.isEmpty else { throw WeightsError(.unsupported, path: "", "a merged archive needs at least one part") }
        self.parts = parts
    }

    /// Opens every path with `WeightFile.open` and merges them in order.
    public static func open(_ paths: [String]) throws -> MergedArchive {
        try MergedArchive(parts: paths.map { try WeightFile.open($0) })
    }

    public var path: String { parts.map(\.path).joined(separator: "+") }
    public var format: WeightFileFormat { parts[0].format }
    public var names: [String] { Array(Set(parts.flatMap(\.names))).sortedByUTF8() }
    public func info(named name: String) -> TensorInfo? {
        for p in parts { if let i = p.info(named: name) { return i } }
        return nil
    }
    public func tensor(named name: String) throws -> TensorData {
        for p in parts where p.contains(name) { return try p.tensor(named: name) }
        throw missingTensor(name)
    }
    public var metadata: [String: String] { parts[0].metadata }
    public var fileSize: Int { parts.reduce(0) { $0 + $1.fileSize } }
}
