import TensorStorage

/// Rewrites weights as safetensors with their floating-point tensors rounded to another
/// precision: what `dynamicrafter convert` and `models fetch|add --convert` write.
public enum PrecisionConversion {
    /// What one conversion wrote.
    public struct Summary: Sendable, Equatable {
        /// Bytes of the safetensors file written.
        public let bytesWritten: Int
        /// Tensors whose dtype changed.
        public let tensorsConverted: Int
        public let tensorCount: Int
    }

    /// The dtype and shape each tensor of `archive` gets: floating-point tensors become
    /// `target` (nil keeps every dtype), integer and bool tensors stay as they are.
    public static func entries(of archive: any WeightArchive, to target: DType?) -> [(name: String, info: TensorInfo)] {
        archive.infos.map { entry in
            let dtype = target.flatMap { entry.info.dtype.isFloatingPoint ? $0 : nil } ?? entry.info.dtype
            return (name: entry.name, info: TensorInfo(dtype: dtype, shape: entry.info.shape))
        }
    }

    /// Writes `archive` to `path` as safetensors, one tensor at a time (memory stays near the
    /// largest tensor), under a temporary name renamed into place once complete.
    /// `progress(done, total)` is called with the tensor bytes written so far before each
    /// tensor and once at the end; returning false abandons the file.
    @discardableResult
    public static func write(_ archive: any WeightArchive, to path: String, dtype target: DType?,
                             progress: (_ done: Int, _ total: Int) -> Bool = { _, _ in true }) throws -> Summary {
        let entries = entries(of: archive, to: target)
        let changed = zip(entries, archive.infos).filter { $0.0.info.dtype != $0.1.info.dtype }.count
        let sizes = Dictionary(entries.map { ($0.name, $0.info.byteCount) }, uniquingKeysWith: { a, _ in a })
        let total = sizes.values.reduce(0, +)
        var done = 0
        let written = try SafetensorsWriter.write(entries: entries, metadata: archive.metadata, to: path) { name in
            guard progress(done, total) else {
                throw WeightsError(.io, path: path, "the conversion was interrupted; nothing was written")
            }
            done += sizes[name] ?? 0
            let tensor = try archive.tensor(named: name)
            guard let target, tensor.dtype.isFloatingPoint, tensor.dtype != target else { return tensor }
            do {
                return try round(tensor, to: target)
            } catch {
                throw WeightsError(.unsupported, path: archive.path, "tensor '\(name)': \(error)")
            }
        }
        _ = progress(total, total)
        return Summary(bytesWritten: written, tensorsConverted: changed, tensorCount: entries.count)
    }

    /// Rounds floating-point data to `target` (f32, f16 or bf16, round to nearest even) element
    /// by element, straight from the source bytes into the output: unlike going through a
    /// float32 `Tensor`, no intermediate copy of the tensor is made. Values pass through
    /// float32 exactly as `TensorData.converted(to:)` does, so the results are the same.
    public static func round(_ tensor: TensorData, to target: DType) throws -> TensorData {
        let n = tensor.elementCount
        let source = tensor.dtype
        let storage = withExtendedLifetime(tensor) {
            let src = tensor.bytes
            return ByteStorage(count: n * target.byteSize) { dst in
                // The published checkpoints are f32: a loop of its own for f32 → bf16/f16.
                if source == .f32, target == .bf16 {
                    for i in 0 ..< n {
                        let value = Float(bitPattern: src.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))
                        dst.storeBytes(of: HalfConversion.bf16(from: value), toByteOffset: 2 * i, as: UInt16.self)
                    }
                    return
                }
                if source == .f32, target == .f16 {
                    for i in 0 ..< n {
                        let value = Float(bitPattern: src.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))
                        dst.storeBytes(of: HalfConversion.f16(from: value), toByteOffset: 2 * i, as: UInt16.self)
                    }
                    return
                }
                for i in 0 ..< n {
                    let value: Float
                    switch source {
                    case .f32: value = Float(bitPattern: src.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))
                    case .f16: value = HalfConversion.float(fromF16: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
                    case .bf16: value = HalfConversion.float(fromBF16: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
                    default: value = Float(src.loadUnaligned(fromByteOffset: 8 * i, as: Double.self)) // f64
                    }
                    switch target {
                    case .f16: dst.storeBytes(of: HalfConversion.f16(from: value), toByteOffset: 2 * i, as: UInt16.self)
                    case .bf16: dst.storeBytes(of: HalfConversion.bf16(from: value), toByteOffset: 2 * i, as: UInt16.self)
                    default: dst.storeBytes(of: value.bitPattern, toByteOffset: 4 * i, as: UInt32.self) // f32
                    }
                }
            }
        }
        return try TensorData(dtype: target, shape: tensor.shape, storage: storage)
    }
}
