import ArgumentParser
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import TensorCore
import TensorStorage
import Weights

/// `dynamicrafter inspect FILE [--tsv]`: lists the tensors of a checkpoint or safetensors file.
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "List every tensor of a .ckpt or .safetensors file.",
        discussion: """
            The format is detected from the file's content. Without --tsv, prints an aligned \
            table and a summary: tensor count, total bytes and parameter (element) counts per \
            prefix. The prefix of a name is its first dot-separated component, except that \
            names under "model." are grouped by their first two components (so \
            "model.diffusion_model.*" is one group) and names without a dot are grouped as \
            "(top level)" (the diffusion schedule buffers).
            """
    )

    @Argument(help: "A PyTorch .ckpt (zip) checkpoint or a .safetensors file.")
    var file: String

    @Flag(help: "Print one 'name<TAB>dtype<TAB>d0,d1,…' line per tensor, sorted by name (a 0-dim tensor has an empty shape).")
    var tsv = false

    func run() throws {
        let archive: any WeightArchive
        do {
            archive = try WeightFile.open(file)
        } catch {
            throw CommandFailure.report(error, file: file)
        }
        if tsv {
            for (name, info) in archive.infos {
                print("\(name)\t\(info.dtype.rawValue)\t\(info.shape.map(String.init).joined(separator: ","))")
            }
        } else {
            printTable(archive)
        }
    }

    private func printTable(_ archive: any WeightArchive) {
        let rows = archive.infos
        print("\(archive.path): \(archive.format), \(rows.count) tensor\(rows.count == 1 ? "" : "s")")
        if let checkpoint = archive as? TorchCheckpoint, !checkpoint.otherTopLevelKeys.isEmpty {
            print("other top-level entries: \(checkpoint.otherTopLevelKeys.joined(separator: ", "))")
        }
        if !rows.isEmpty {
            let shapes = rows.map { Shape.describe($0.info.shape) }
            let counts = rows.map { grouped($0.info.elementCount) }
            let nameWidth = max(4, rows.map { $0.name.count }.max() ?? 0)
            let shapeWidth = max(5, shapes.map(\.count).max() ?? 0)
            let countWidth = max(10, counts.map(\.count).max() ?? 0)
            print("")
            print(pad("NAME", nameWidth) + "  " + pad("DTYPE", 5) + "  " + pad("SHAPE", shapeWidth) + "  " + leftPad("PARAMETERS", countWidth))
            for (i, row) in rows.enumerated() {
                print(pad(row.name, nameWidth) + "  " + pad(row.info.dtype.rawValue, 5) + "  " + pad(shapes[i], shapeWidth)
                      + "  " + leftPad(counts[i], countWidth))
            }
        }

        var groups: [String: Int] = [:]
        var order: [String] = []
        var totalBytes = 0
        var totalElements = 0
        for (name, info) in rows {
            let key = Self.group(of: name)
            if groups[key] == nil { order.append(key) }
            groups[key, default: 0] += info.elementCount
            totalBytes += info.byteCount
            totalElements += info.elementCount
        }
        print("")
        if !order.isEmpty {
            print("Parameters by prefix:")
            // Largest groups first, then by name.
            let sorted = order.sorted { (groups[$0] ?? 0, $1) > (groups[$1] ?? 0, $0) }
            let width = sorted.map(\.count).max() ?? 0
            let countWidth = sorted.map { grouped(groups[$0] ?? 0).count }.max() ?? 0
            for key in sorted {
                print("  " + pad(key, width) + "  " + leftPad(grouped(groups[key] ?? 0), countWidth))
            }
        }
        print("Tensors: \(rows.count)")
        print("Parameters: \(grouped(totalElements))")
        print("Tensor bytes: \(grouped(totalBytes)) (\(humanBytes(totalBytes)))")
    }

    /// The summary group of a tensor name (see the command's discussion).
    static func group(of name: String) -> String {
        let parts = name.split(separator: ".", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count > 1 else { return "(top level)" }
        if parts[0] == "model", parts.count > 2 { return "model.\(parts[1])" }
        return String(parts[0])
    }
}

/// Turns errors into a message on standard error and exit status 1.
enum CommandFailure {
    static func report(_ error: any Error, file: String) -> ExitCode {
        if let weightsError = error as? WeightsError {
            writeToStandardError("error: \(weightsError)\n")
        } else {
            writeToStandardError("error: \(file): \(error)\n")
        }
        return ExitCode.failure
    }
}

func writeToStandardError(_ text: String) {
    var bytes = Array(text.utf8)[...]
    while !bytes.isEmpty {
        let n = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
        if n <= 0 { return }
        bytes = bytes.dropFirst(n)
    }
}

/// Left-aligned in a column (padding by characters, which suits the ASCII tensor names).
func pad(_ s: String, _ width: Int) -> String {
    s.count >= width ? s : s + String(repeating: " ", count: width - s.count)
}

func leftPad(_ s: String, _ width: Int) -> String {
    s.count >= width ? s : String(repeating: " ", count: width - s.count) + s
}

/// 1234567 → "1,234,567".
func grouped(_ n: Int) -> String {
    let digits = String(n.magnitude)
    var out = ""
    for (i, c) in digits.enumerated() {
        if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
        out.append(c)
    }
    return n < 0 ? "-" + out : out
}
