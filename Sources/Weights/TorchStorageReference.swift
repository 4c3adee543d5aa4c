import TensorStorage

/// A storage named by a checkpoint's persistent id: the raw bytes live in the zip entry
/// `<root>/data/<key>`.
struct TorchStorageReference: Sendable, Equatable {
    /// The storage class, e.g. module `torch`, name `FloatStorage`.
    let typeModule: String
    let typeName: String
    let key: String
    /// Device the storage was saved from ("cpu", "cuda:0"); the bytes read the same either way.
    let location: String
    /// Element count.
    let count: Int

    /// Element type of the storage class, nil for classes with no supported dtype.
    var dtype: DType? {
        // CUDA storages are written with the same layout as CPU ones.
        guard typeModule == "torch" || typeModule == "torch.cuda" else { return nil }
        switch typeName {
        case "FloatStorage": return .f32
        case "HalfStorage": return .f16
        case "BFloat16Storage": return .bf16
        case "DoubleStorage": return .f64
        case "LongStorage": return .i64
        case "IntStorage": return .i32
        case "ShortStorage": return .i16
        case "CharStorage": return .i8
        case "ByteStorage": return .u8
        case "BoolStorage": return .bool
        default: return nil
        }
    }

    var qualifiedTypeName: String { "\(typeModule).\(typeName)" }
}
