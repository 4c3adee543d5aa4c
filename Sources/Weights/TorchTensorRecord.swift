/// The arguments of `_rebuild_tensor_v2(storage, storage_offset, size, stride, …)`, not yet
/// checked against the storage.
struct TorchTensorRecord: Sendable, Equatable {
    let storage: TorchStorageReference
    /// In elements.
    let storageOffset: Int
    let shape: [Int]
    /// In elements.
    let strides: [Int]

    /// Builds a record from rebuild arguments, or explains why they do not describe a tensor.
    static func from(rebuildArguments args: [PickleValue]) -> Result<TorchTensorRecord, RebuildFailure> {
        guard args.count >= 4 else {
            return .failure(RebuildFailure("tensor rebuild takes at least 4 arguments, got \(args.count)"))
        }
        guard case .storage(let storage) = args[0] else {
            return .failure(RebuildFailure("tensor rebuild expects a storage, got \(args[0].summary)"))
        }
        guard let offset = args[1].intValue, let shape = args[2].intList, let strides = args[3].intList else {
            return .failure(RebuildFailure("tensor rebuild expects an int offset and int tuples for size and stride"))
        }
        guard shape.count == strides.count else {
            return .failure(RebuildFailure("size has \(shape.count) dimensions but stride has \(strides.count)"))
        }
        return .success(TorchTensorRecord(storage: storage, storageOffset: offset, shape: shape, strides: strides))
    }

    struct RebuildFailure: Error {
        let reason: String
        init(_ reason: String) { self.reason = reason }
    }
}
