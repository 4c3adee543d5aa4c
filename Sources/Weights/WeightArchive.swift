import TensorStorage

/// An open weight file: the names, dtypes and shapes of its tensors are known as soon as it is
/// open; tensor bytes are read (mapped) only when asked for.
///
/// Archives are immutable values and can be shared between threads. Tensors returned by
/// `tensor(named:)` keep the file's mapping alive on their own, so the archive may be dropped
/// while they are in use.
public protocol WeightArchive: Sendable {
    /// The file this archive was opened from.
    var path: String { get }
    /// The format detected from the file's first bytes.
    var format: WeightFileFormat { get }
    /// Every tensor name, sorted by UTF-8 bytes (the order Python and Rust sort strings in).
    var names: [String] { get }
    /// Dtype and shape of a tensor, or nil when the file has no tensor of that name.
    func info(named name: String) -> TensorInfo?
    /// The tensor's contiguous row-major data. A zero-copy view of the mapped file where the
    /// stored layout allows, a materialised copy otherwise (strided PyTorch views).
    func tensor(named name: String) throws -> TensorData
    /// Free-form string metadata (safetensors `__metadata__`); empty for checkpoints.
    var metadata: [String: String] { get }
    /// Size of the file in bytes.
    var fileSize: Int { get }
    /// Drops the pages of the mapped file from this process's resident memory (no-op for
    /// archives held in memory). Tensors stay readable: their pages come back from the page
    /// cache when touched.
    func releaseResidentPages()
}

extension WeightArchive {
    public func releaseResidentPages() {}

    /// Whether the file holds a tensor of that name.
    public func contains(_ name: String) -> Bool { info(named: name) != nil }

    /// Number of tensors.
    public var count: Int { names.count }

    /// Like `info(named:)`, but a missing name is an error that names the file.
    public func requireInfo(named name: String) throws -> TensorInfo {
        guard let info = info(named: name) else { throw missingTensor(name) }
        return info
    }

    /// Every tensor's info in name order.
    public var infos: [(name: String, info: TensorInfo)] {
        names.compactMap { name in info(named: name).map { (name, $0) } }
    }

    /// Total elements over all tensors.
    public var totalElementCount: Int { infos.reduce(0) { $0 + $1.info.elementCount } }

    /// The standard error for a name the file does not hold.
    func missingTensor(_ name: String) -> WeightsError {
        WeightsError(.tensorNotFound, path: path, "no tensor named '\(name)' (the file holds \(names.count) tensors)")
    }
}

extension Sequence where Element == String {
    /// Sorted by UTF-8 code units: deterministic and the same order as Python's `sorted` and
    /// Rust's `str` ordering (Swift's `<` uses Unicode canonical equivalence instead).
    func sortedByUTF8() -> [String] {
        sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }
}
