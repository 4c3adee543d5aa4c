import ArgumentParser
import DynamiCrafterModel
import ReferenceCheck
import TensorCore

/// `dynamicrafter check-reference DIR [--dump OUT]`: runs a golden-tensor manifest.
struct CheckReferenceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-reference",
        abstract: "Compare the port with golden tensors from the reference implementation.",
        discussion: """
            Reads DIR/manifest.json (the format of the reference goldens), builds each case's \
            model from its weights and configuration, runs every golden file it describes \
            (text encoder, image encoder and Resampler, VAE, UNet, whole sampling runs with the \
            recorded noise, alternative checkpoint files) and prints, for every tensor, the \
            maximum absolute and relative error with PASS or FAIL. Exits 1 if anything fails.
            """
    )

    @Argument(help: "A directory with manifest.json and one sub-directory per case.")
    var directory: String

    @Option(help: "Write every computed tensor as safetensors under this directory (OUT/CASE/FILE.safetensors, the golden files' tensor names).")
    var dump: String?

    @Option(name: .customLong("case"), help: "Run only this case (repeatable).")
    var cases: [String] = []

    @Option(help: "Compute backend: onednn, openblas or reference.")
    var backend: BackendKind?

    @Option(help: "Weight precision: f32 (default; what the goldens are checked at) or bf16 (reports how far bf16 is from them).")
    var precision: Precision = .f32

    @Flag(help: "Print only failures and the summary.")
    var quiet = false

    func run() throws {
        do {
            let manifest = try GoldenManifest.load(directory: directory)
            let known = Set(manifest.cases.map(\.name))
            if let unknown = cases.first(where: { !known.contains($0) }) {
                throw ValidationError("no case '\(unknown)' in the manifest (it has \(known.sorted().joined(separator: ", ")))")
            }
            let context = ComputeContext(backend: try backend.map { try ComputeBackends.make($0) } ?? ComputeBackends.makeDefault(),
                                         precision: precision)
            let checker = ReferenceChecker(manifest: manifest, context: context)
            let report = try checker.run(dump: dump, cases: cases.isEmpty ? nil : Set(cases), loaded: { print($0) }) { check in
                if !quiet || !check.passed { print(check.line) }
            }
            let failed = report.failures.count
            print("\(report.checks.count - failed) passed, \(failed) failed")
            if !report.passed { throw ExitCode.failure }
        } catch let error as ExitCode {
            throw error
        } catch let error as ValidationError {
            throw error
        } catch {
            writeToStandardError("error: \(error)\n")
            throw ExitCode.failure
        }
    }
}
