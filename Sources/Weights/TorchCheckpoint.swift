import TensorStorage

/// A memory-mapped PyTorch zip checkpoint (`torch.save` since PyTorch 1.6; PyTorch Lightning
/// `.ckpt` files). Opening reads the zip directory and runs the pickle; tensor bytes are
/// mapped only by `tensor(named:)`.
///
/// The state dict is the top-level `state_dict` entry when there is one, otherwise the
/// top-level dict itself. Entries that are not tensors (epoch counters, optimizer state,
/// arbitrary objects) are skipped.
public struct TorchCheckpoint: WeightArchive {
    public let path: String
    public let names: [String]
    public var format: WeightFileFormat { .pytorchZip }
    public var metadata: [String: String] { [:] }
    /// The archive's root folder: `archive` or the name the file was first saved under.
    public let rootName: String
    /// String keys of the top-level dict other than `state_dict` (e.g. `epoch`), sorted.
    public let otherTopLevelKeys: [String]

    private let storage: ByteStorage

    public func releaseResidentPages() { storage.releaseAllPages() }
    private let directory: ZipDirectory
    private let records: [String: Record]

    /// A tensor checked against its storage at open time.
    struct Record: Sendable {
        let info: TensorInfo
        let entry: ZipEntry
        let storageKey: String
        /// In elements.
        let storageOffset: Int
        let strides: [Int]
        /// Row-major with no gaps: served as a view instead of a copy.
        let isContiguous: Bool
    }

    /// A strided tensor is copied when read; a stride-0 broadcast could expand a tiny storage
    /// without bound, so the copy is capped by the file size (or this floor for small files).
    static let minimumExpansionCap = 64 << 20

    /// Maps the checkpoint at `path`, reads its directory and pickle, and checks every
    /// tensor's dtype, shape, offset and strides against its storage.
    public init(path: String) throws {
        try self.init(storage: MappedFile.map(path), path: path)
    }

    /// Reads checkpoint bytes already in memory; `path` names them in errors.
    public init(storage: ByteStorage, path: String) throws {
        self.path = path
        self.storage = storage
        let file = storage.bytes
        let directory = try ZipDirectory.read(file, path: path)
        self.directory = directory

        let pickles = directory.entries.filter { entry in
            entry.name.hasSuffix("/data.pkl") && entry.name.utf8.filter({ $0 == UInt8(ascii: "/") }).count == 1
        }
        guard let pickle = pickles.first else {
            throw WeightsError(.invalidZip, path: path, "zip archive has no <root>/data.pkl entry: not a PyTorch checkpoint")
        }
        guard pickles.count == 1 else {
            throw WeightsError(.invalidZip, path: path,
                               "zip archive has \(pickles.count) data.pkl entries (\(pickles.prefix(3).map(\.name).joined(separator: ", "))\(pickles.count > 3 ? ", …" : "")); expected one")
        }
        let root = String(pickle.name.dropLast("/data.pkl".count))
        rootName = root

        if let order = directory.entry(named: "\(root)/byteorder") {
            let range = try directory.dataRange(of: order, in: file, path: path)
            let text = decodeUTF8(UnsafeRawBufferPointer(rebasing: file[range])).map { String($0.filter { !$0.isWhitespace }) }
            guard text == "little" else {
                throw WeightsError(.unsupported, path: path,
                                   "checkpoint byte order is '\(text ?? "?")'; only little-endian checkpoints are supported")
            }
        }

        let pickleRange = try directory.dataRange(of: pickle, in: file, path: path)
        let value = try PickleMachine.run(UnsafeRawBufferPointer(rebasing: file[pickleRange]), path: path, label: pickle.name)
        let (stateDict, others) = try Self.stateDict(of: value, path: path)
        otherTopLevelKeys = others

        var records: [String: Record] = [:]
        let expansionCap = max(file.count, Self.minimumExpansionCap)
        for (key, item) in stateDict {
            // Non-string keys and non-tensor values are not weights.
            guard let name = key.stringValue else { continue }
            switch item {
            case .tensor(let t):
                records[name] = try Self.check(t, name: name, root: root, directory: directory,
                                               expansionCap: expansionCap, path: path)
            case .badTensor(let reason):
                throw WeightsError(.invalidTensor, path: path, "tensor '\(name)': \(reason)")
            default:
                records.removeValue(forKey: name) // a later non-tensor value replaces an earlier tensor
            }
        }
        self.records = records
        names = Array(records.keys).sortedByUTF8()
    }

    /// The state dict's items and the other top-level keys.
    private static func stateDict(of value: PickleValue, path: String) throws
        -> (items: [(key: PickleValue, value: PickleValue)], otherKeys: [String]) {
        guard case .dict(let top, _) = value else {
            throw WeightsError(.invalidPickle, path: path, "checkpoint holds \(value.summary), expected a dict of tensors")
        }
        guard let nested = top.last(where: { $0.key.stringValue == "state_dict" })?.value else {
            return (top, [])
        }
        guard case .dict(let items, _) = nested else {
            throw WeightsError(.invalidPickle, path: path, "checkpoint 'state_dict' is \(nested.summary), expected a dict of tensors")
        }
        let others = Set(top.compactMap { $0.key.stringValue }.filter { $0 != "state_dict" })
        return (items, others.sortedByUTF8())
    }

    /// Validates a rebuilt tensor against its storage entry.
    private static func check(_ t: TorchTensorRecord, name: String, root: String, directory: ZipDirectory,
                              expansionCap: Int, path: String) throws -> Record {
        func bad(_ what: String) -> WeightsError {
            WeightsError(.invalidTensor, path: path, "tensor '\(name)': \(what)")
        }
        guard let dtype = t.storage.dtype else {
            throw WeightsError(.unknownStorageType, path: path,
                               "tensor '\(name)': unknown storage type \(t.storage.qualifiedTypeName) (supported: Float, Half, BFloat16, Double, Long, Int, Short, Char, Byte and Bool storages)")
        }
        let entryName = "\(root)/data/\(t.storage.key)"
        guard let entry = directory.entry(named: entryName) else {
            throw bad("its storage \(entryName) is missing from the archive")
        }
        guard entry.isStored, !entry.isEncrypted else {
            throw WeightsError(.compressedEntry, path: path,
                               "zip entry '\(entry.name)' is \(entry.isEncrypted ? "encrypted" : "compressed (\(entry.methodName))"); only stored (uncompressed) checkpoints can be memory-mapped")
        }
        let (storageBytes, o1) = t.storage.count.multipliedReportingOverflow(by: dtype.byteSize)
        guard !o1, storageBytes <= entry.uncompressedSize else {
            throw bad("storage \(entryName) declares \(t.storage.count) \(dtype.rawValue) elements but holds \(entry.uncompressedSize) bytes")
        }
        guard t.storageOffset >= 0, t.shape.allSatisfy({ $0 >= 0 }), t.strides.allSatisfy({ $0 >= 0 }) else {
            throw bad("negative offset, size or stride (offset \(t.storageOffset), size \(Shape.describe(t.shape)), stride \(Shape.describe(t.strides)))")
        }
        guard let count = Shape.elementCount(t.shape) else { throw bad("size \(Shape.describe(t.shape)) overflows") }
        let (byteCount, o2) = count.multipliedReportingOverflow(by: dtype.byteSize)
        guard !o2 else { throw bad("size \(Shape.describe(t.shape)) overflows") }

        var contiguous = true
        if count > 0 {
            // The last element the view touches must lie inside the storage.
            var last = t.storageOffset
            var expected = 1
            for (size, stride) in zip(t.shape, t.strides).reversed() {
                let (span, o3) = (size - 1).multipliedReportingOverflow(by: stride)
                let (sum, o4) = last.addingReportingOverflow(span)
                guard !o3, !o4 else { throw bad("strides \(Shape.describe(t.strides)) overflow") }
                last = sum
                if size != 1 && stride != expected { contiguous = false }
                expected *= size // cannot overflow: bounded by `count`
            }
            guard last < t.storage.count else {
                throw bad("size \(Shape.describe(t.shape)), stride \(Shape.describe(t.strides)) at offset \(t.storageOffset) reach element \(last) of a \(t.storage.count)-element storage")
            }
            guard contiguous || byteCount <= expansionCap else {
                throw bad("strided view would expand to \(byteCount) bytes, more than the file holds; refusing to copy it")
            }
        }
        return Record(info: TensorInfo(dtype: dtype, shape: t.shape), entry: entry, storageKey: t.storage.key,
                      storageOffset: count > 0 ? t.storageOffset : 0, strides: t.strides, isContiguous: contiguous)
    }

    public func info(named name: String) -> TensorInfo? {
        records[name]?.info
    }

    public func tensor(named name: String) throws -> TensorData {
        guard let record = records[name] else { throw missingTensor(name) }
        let file = storage.bytes
        let range = try directory.dataRange(of: record.entry, in: file, path: path)
        let size = record.info.dtype.byteSize
        do {
            if record.isContiguous {
                return try TensorData(dtype: record.info.dtype, shape: record.info.shape, storage: storage,
                                      byteOffset: range.lowerBound + record.storageOffset * size)
            }
            let source = UnsafeRawBufferPointer(rebasing: file[range])
            let copy = ByteStorage(count: record.info.byteCount) { destination in
                StridedCopy.gather(from: source, elementSize: size, offset: record.storageOffset,
                                   shape: record.info.shape, strides: record.strides, into: destination)
            }
            return try TensorData(dtype: record.info.dtype, shape: record.info.shape, storage: copy)
        } catch {
            // Unreachable after the checks at open; kept so a bug surfaces as an error, not a crash.
            throw WeightsError(.invalidTensor, path: path, "tensor '\(name)': \(error)")
        }
    }

    /// Whether the tensor is stored with gaps or permuted strides (and is copied when read).
    public func isStrided(_ name: String) -> Bool {
        records[name].map { !$0.isContiguous } ?? false
    }

    /// The file's size in bytes.
    public var fileSize: Int { storage.count }
}
