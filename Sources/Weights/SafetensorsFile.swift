import TensorStorage

/// A memory-mapped safetensors file. Opening reads and validates the header only; tensors are
/// zero-copy views of the mapping.
public struct SafetensorsFile: WeightArchive {
    public let path: String
    public let names: [String]
    public var metadata: [String: String] { header.metadata }
    public var format: WeightFileFormat { .safetensors }

    private let storage: ByteStorage

    public func releaseResidentPages() { storage.releaseAllPages() }
    private let header: SafetensorsHeader

    /// Maps and validates the file at `path`.
    public init(path: String) throws {
        try self.init(storage: MappedFile.map(path), path: path)
    }

    /// Reads safetensors bytes already in memory; `path` names them in errors.
    public init(storage: ByteStorage, path: String) throws {
        self.path = path
        self.storage = storage
        self.header = try SafetensorsHeader.parse(storage.bytes, path: path)
        self.names = Array(header.entries.keys).sortedByUTF8()
    }

    public func info(named name: String) -> TensorInfo? {
        header.entries[name]?.info
    }

    public func tensor(named name: String) throws -> TensorData {
        guard let entry = header.entries[name] else { throw missingTensor(name) }
        do {
            return try TensorData(dtype: entry.info.dtype, shape: entry.info.shape, storage: storage,
                                  byteOffset: header.dataStart + entry.begin)
        } catch {
            // The header was validated against the file size, so this is unreachable in practice.
            throw WeightsError(.invalidTensor, path: path, "tensor '\(name)': \(error)")
        }
    }

    /// The file's size in bytes.
    public var fileSize: Int { storage.count }
}
