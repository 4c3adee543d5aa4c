import ArgumentParser
import TensorCore
import TensorStorage
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
        let result: PrecisionConversion.Summary
        do {
            result = try PrecisionConversion.write(archive, to: output, dtype: target)
        } catch {
            // Read errors name the input, write errors the output.
            throw CommandFailure.report(error, file: output)
        }
        let written = result.bytesWritten
        let entries = result.tensorCount
        let changed = result.tensorsConverted

        let inputSize = archive.fileSize
        let saved = inputSize - written
        var summary = "wrote \(output): \(entries) tensor\(entries == 1 ? "" : "s")"
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
}
