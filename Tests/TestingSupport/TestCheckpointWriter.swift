import Foundation
import TensorCore
import TensorStorage
import Weights

/// Writes torch.save-style checkpoints: `<root>/data.pkl` holding
/// `{"state_dict": OrderedDict(name → _rebuild_tensor_v2(...)), "epoch": …}` plus one storage
/// entry per tensor, the way PyTorch Lightning checkpoints look.
public struct TestCheckpointWriter {
    /// A tensor as the pickle describes it: a view into a storage.
    public struct Item {
        public var name: String
        public var storageClass: String
        public var storageKey: String
        public var storageCount: Int
        public var offset: Int
        public var shape: [Int]
        public var strides: [Int]

        public init(name: String, storageClass: String, storageKey: String, storageCount: Int, offset: Int, shape: [Int], strides: [Int]) {
            self.name = name
            self.storageClass = storageClass
            self.storageKey = storageKey
            self.storageCount = storageCount
            self.offset = offset
            self.shape = shape
            self.strides = strides
        }
    }

    public var root = "archive"
    public var items: [Item] = []
    public var storages: [(key: String, bytes: [UInt8])] = []
    public var wrapInStateDict = true
    public var extraTopLevel = true
    public var zip = TestZipWriter()

    public init() {}

    public static func storageClass(_ dtype: DType) -> String {
        switch dtype {
        case .f32: "FloatStorage"
        case .f16: "HalfStorage"
        case .bf16: "BFloat16Storage"
        case .f64: "DoubleStorage"
        case .i64: "LongStorage"
        case .i32: "IntStorage"
        case .i16: "ShortStorage"
        case .i8: "CharStorage"
        case .u8: "ByteStorage"
        case .bool: "BoolStorage"
        }
    }

    public static func rowMajorStrides(_ shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var s = 1
        for i in shape.indices.reversed() {
            strides[i] = s
            s *= shape[i]
        }
        return strides
    }

    /// Adds a contiguous tensor with its own storage.
    public mutating func add(_ name: String, _ t: TensorData) {
        let key = String(storages.count)
        storages.append((key, withExtendedLifetime(t) { Array(t.bytes) }))
        items.append(Item(name: name, storageClass: Self.storageClass(t.dtype), storageKey: key,
                          storageCount: t.elementCount, offset: 0, shape: t.shape, strides: Self.rowMajorStrides(t.shape)))
    }

    /// The pickle torch.save would write for `items`.
    public func pickle() -> [UInt8] {
        var w = PickleWriter()
        w.proto(2)
        if wrapInStateDict {
            w.emptyDict()
            w.binput(0)
            w.mark()
            w.string("state_dict")
            emitStateDict(&w)
            if extraTopLevel {
                w.string("epoch"); w.int(7)
                w.string("global_step"); w.int(123_456)
                w.string("lr"); w.float(1e-4)
                w.string("callbacks")
                w.global("pytorch_lightning.callbacks", "ModelCheckpoint"); w.emptyTuple(); w.newobj()
                w.emptyDict(); w.build()
            }
            w.setitems()
        } else {
            emitStateDict(&w)
        }
        w.stop()
        return w.bytes
    }

    /// Pushes `OrderedDict(name → tensor, …)`.
    private func emitStateDict(_ w: inout PickleWriter) {
        w.global("collections", "OrderedDict")
        w.binput(1)
        w.emptyTuple()
        w.reduce()
        w.mark()
        for item in items {
            w.string(item.name)
            w.global("torch._utils", "_rebuild_tensor_v2")
            w.tuple { w in
                w.tuple { w in
                    w.string("storage")
                    w.global("torch", item.storageClass)
                    w.string(item.storageKey)
                    w.string("cpu")
                    w.int(item.storageCount)
                }
                w.binpersid()
                w.int(item.offset)
                w.intTuple(item.shape)
                w.intTuple(item.strides)
                w.newFalse()
                w.binget(1)
                w.emptyTuple()
                w.reduce()
            }
            w.reduce()
        }
        w.setitems()
    }

    /// The checkpoint file bytes, with entries in PyTorch's order.
    public func build() -> [UInt8] {
        var zip = self.zip
        zip.entries = []
        zip.add("\(root)/data.pkl", pickle())
        zip.add("\(root)/.format_version", Array("1".utf8))
        zip.add("\(root)/.storage_alignment", Array("64".utf8))
        zip.add("\(root)/byteorder", Array("little".utf8))
        for (key, bytes) in storages { zip.add("\(root)/data/\(key)", bytes) }
        zip.add("\(root)/version", Array("3\n".utf8))
        zip.add("\(root)/.data/serialization_id", Array("0123456789012345678901234567890123456789".utf8))
        return zip.build().bytes
    }

    /// A checkpoint whose pickle is `pickle` (storages as added).
    public func build(pickle: [UInt8]) -> [UInt8] {
        var zip = self.zip
        zip.entries = []
        zip.add("\(root)/data.pkl", pickle)
        zip.add("\(root)/byteorder", Array("little".utf8))
        for (key, bytes) in storages { zip.add("\(root)/data/\(key)", bytes) }
        return zip.build().bytes
    }
}

extension TestCheckpointWriter {
    /// Writes every tensor of `archive` as a PyTorch Lightning-style `.ckpt` at `path`, floats
    /// as `dtype` when given (the published checkpoints are f32): a whole model in the
    /// published checkpoints' format, e.g. from the demo model's safetensors.
    public static func write(_ archive: any WeightArchive, to path: String, dtype: DType? = nil) throws {
        var writer = TestCheckpointWriter()
        for entry in archive.infos {
            var tensor = try archive.tensor(named: entry.name)
            if let dtype, tensor.dtype.isFloatingPoint, tensor.dtype != dtype {
                tensor = try PrecisionConversion.round(tensor, to: dtype)
            }
            writer.add(entry.name, tensor)
        }
        try Data(writer.build()).write(to: URL(fileURLWithPath: path))
    }

    /// `write(_:to:dtype:)` for the weights file at `source`.
    public static func write(weightsAt source: String, to path: String, dtype: DType? = nil) throws {
        try write(try WeightFile.open(source), to: path, dtype: dtype)
    }
}

public func firstIndex(of needle: [UInt8], in haystack: [UInt8]) -> Int? {
    guard needle.count <= haystack.count else { return nil }
    for i in 0 ... haystack.count - needle.count where haystack[i ..< i + needle.count].elementsEqual(needle) {
        return i
    }
    return nil
}

/// Offset of the local header of zip entry `name`.
public func localHeaderOffset(of name: String, in bytes: [UInt8]) -> Int? {
    let nameBytes = Array(name.utf8)
    let signature: [UInt8] = [0x50, 0x4B, 0x03, 0x04]
    var i = 0
    while i + 30 + nameBytes.count <= bytes.count {
        if bytes[i ..< i + 4].elementsEqual(signature) {
            let length = Int(bytes[i + 26]) | Int(bytes[i + 27]) << 8
            if length == nameBytes.count && bytes[i + 30 ..< i + 30 + length].elementsEqual(nameBytes) { return i }
        }
        i += 1
    }
    return nil
}
