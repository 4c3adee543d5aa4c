import ArgumentParser
import TensorCore
import Weights

/// `dynamicrafter convert IN OUT.safetensors [--dtype f32|f16|bf16]`.
struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Convert a .ckpt or .safetensors file to safetensors, optionally changing the float precision.",
        discussion: """
            Tensors are converted and written one at a time, so memory use stays near the size \
            of the largest tensor. With --dtype, every floating-point tensor is rounded to that \
            type (round to nearest even); integer and bool tensors are copied unchanged. Without \
            it, dtypes are kept. The output is written under a temporary name and renamed into \
            place when complete.
            """
    )

    enum Precision: String, ExpressibleByArgument, CaseIterable {
        case f32, f16, bf16

        var dtype: DType {
            switch self {
            case .f32: .f32
            case .f16: .f16
            case .bf16: .bf16
            }
        }
    }

    @Argument(help: "The checkpoint (.ckpt) or safetensors file to read.")
    var input: String

    @Argument(help: "The safetensors file to write (replaced if it exists).")
    var output: String

    @Option(help: "Store floating-point tensors as f32, f16 or bf16 (default: keep each tensor's dtype).")
    var dtype: Precision?

    func run() throws {
        let archive: any WeightArchive
        do {
            archive = try WeightFile.open(input)
        } catch {
            throw CommandFailure.report(error, file: input)
        }
        let target = dtype?.dtype
        let entries = archive.infos.map { entry in
            let converted = target.flatMap { entry.info.dtype.isFloatingPoint ? $0 : nil } ?? entry.info.dtype
            return (name: entry.name, info: TensorInfo(dtype: converted, shape: entry.info.shape))
        }
        let changed = zip(entries, archive.infos).filter { $0.0.info.dtype != $0.1.info.dtype }.count

        let written: Int
        do {
            written = try SafetensorsWriter.write(entries: entries, metadata: archive.metadata, to: output) { name in
                let tensor = try archive.tensor(named: name)
                guard let target, tensor.dtype.isFloatingPoint, tensor.dtype != target else { return tensor }
                do {
                    return try Self.convert(tensor, to: target)
                } catch {
                    throw WeightsError(.unsupported, path: input, "tensor '\(name)': \(error)")
                }
            }
        } catch {
            // Read errors name the input, write errors the output.
            throw CommandFailure.report(error, file: output)
        }

        let inputSize = archive.fileSize
        let saved = inputSize - written
        var summary = "wrote \(output): \(entries.count) tensor\(entries.count == 1 ? "" : "s")"
        if let target { summary += ", \(changed) converted to \(target.rawValue)" }
        summary += "; \(grouped(written)) bytes (\(humanBytes(written))) from \(grouped(inputSize)) bytes"
        if saved >= 0 {
            let percent = inputSize > 0 ? Double(saved) / Double(inputSize) * 100 : 0
            summary += ": saved \(humanBytes(saved)) (\(Int(percent.rounded()))%)"
        } else {
            summary += ": grew by \(humanBytes(-saved))"
        }
        print(summary)
    }

    /// Rounds floating-point data to `target` (f32, f16 or bf16) element by element, straight
    /// from the source bytes into the output: unlike going through a float32 `Tensor`, no
    /// intermediate copy of the tensor is made. Values pass through float32 exactly as
    /// `TensorData.converted(to:)` does, so the results are the same.
    static func convert(_ tensor: TensorData, to target: DType) throws -> TensorData {
        let n = tensor.elementCount
        let source = tensor.dtype
        let storage = withExtendedLifetime(tensor) {
            let src = tensor.bytes
            return ByteStorage(count: n * target.byteSize) { dst in
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
