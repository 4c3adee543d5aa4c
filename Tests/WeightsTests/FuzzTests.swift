import Foundation
import TensorStorage
import Testing
import TestingSupport
import Weights

/// A bounded, seeded mutation fuzzer over both readers. Every input must either open — and
/// then every tensor must read and match its declared dtype and shape — or throw a
/// `WeightsError` naming the input. A crash, hang or other error is a finding.
///
/// Defaults fit a debug build on 2 cores (about 10 s); `WEIGHTS_FUZZ_SECONDS`,
/// `WEIGHTS_FUZZ_ITERATIONS` and `WEIGHTS_FUZZ_SEED` run it longer or differently.
@Suite struct FuzzTests {
    static func environment(_ name: String) -> String? { ProcessInfo.processInfo.environment[name] }

    static func seeds() throws -> [(String, [UInt8])] {
        var inputs: [(String, [UInt8])] = []
        for name in ["ckpt_edge_cases.ckpt", "ckpt_edge_cases.expected.safetensors",
                     "ckpt_subset_legacy.ckpt", "ckpt_subset_legacy.expected.safetensors"] {
            inputs.append((name, try TestFiles.fixtureBytes(name)))
        }
        var zip64 = try TinyCheckpointTests.allDtypes()
        zip64.zip.zip64Everywhere = true
        inputs.append(("tiny-zip64.ckpt", zip64.build()))
        var plain = try TinyCheckpointTests.allDtypes()
        plain.zip.zip64EndRecords = false
        plain.wrapInStateDict = false
        inputs.append(("tiny-plain.ckpt", plain.build()))
        try TestFiles.withTemporaryDirectory { dir in
            let path = dir + "/seed.safetensors"
            var tensors: [(name: String, tensor: TensorData)] = []
            for (i, dtype) in DType.allCases.enumerated() { tensors.append(("t\(i)", try sampleTensor(dtype, [2, 2]))) }
            try SafetensorsWriter.write(tensors, metadata: ["format": "pt"], to: path)
            inputs.append(("tiny.safetensors", [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))))
        }
        return inputs
    }

    enum Outcome { case opened, rejected(WeightsError.Kind), foreign(any Error) }

    /// Opens an input and reads every tensor of it.
    static func exercise(_ bytes: [UInt8], label: String) -> Outcome {
        do {
            let archive = try WeightFile.open(storage: ByteStorage(bytes), path: label)
            for name in archive.names {
                let info = try archive.requireInfo(named: name)
                let t = try archive.tensor(named: name)
                guard t.dtype == info.dtype, t.shape == info.shape, t.byteCount == info.byteCount else {
                    return .foreign(FuzzFailure("tensor '\(name)' is \(t.dtype) \(t.shape), declared \(info)"))
                }
                // Touch both ends of the data: a bad view would fault or be caught by ASan.
                withExtendedLifetime(t) {
                    let b = t.bytes
                    var sum = 0
                    for i in b.indices.prefix(32) { sum &+= Int(b[i]) }
                    for i in b.indices.suffix(32) { sum &+= Int(b[i]) }
                    _ = sum
                }
            }
            return .opened
        } catch let error as WeightsError {
            guard error.path == label, error.description.hasPrefix(label), !error.message.isEmpty else {
                return .foreign(FuzzFailure("error does not name the input: \(error)"))
            }
            return .rejected(error.kind)
        } catch {
            return .foreign(error)
        }
    }

    struct FuzzFailure: Error, CustomStringConvertible {
        let description: String
        init(_ d: String) { description = d }
    }

    @Test func mutatedInputsOpenOrThrowWeightsError() throws {
        let seconds = Double(Self.environment("WEIGHTS_FUZZ_SECONDS") ?? "") ?? 10
        let maxIterations = Int(Self.environment("WEIGHTS_FUZZ_ITERATIONS") ?? "") ?? 200_000
        let seed = UInt64(Self.environment("WEIGHTS_FUZZ_SEED") ?? "") ?? 0xD1CE_C0DE
        var mutator = Mutator(seed: seed, inputs: try Self.seeds())
        let zipShell = TestCheckpointWriter()

        let clock = ContinuousClock()
        let start = clock.now
        let deadline = start + .milliseconds(Int(seconds * 1000))
        var iterations = 0
        var opened = 0
        var rejected: [WeightsError.Kind: Int] = [:]
        var failures = 0
        while iterations < maxIterations, clock.now < deadline {
            let label = "fuzz-\(iterations)"
            let input: [UInt8]
            let origin: String
            if mutator.chance(15) {
                var shell = zipShell
                shell.storages = [("0", [UInt8](repeating: 0x3F, count: 64)), ("1", [1, 2, 3, 4])]
                input = shell.build(pickle: mutator.randomPickle())
                origin = "random pickle"
            } else {
                (origin, input) = mutator.mutate()
            }
            iterations += 1
            switch Self.exercise(input, label: label) {
            case .opened: opened += 1
            case .rejected(let kind): rejected[kind, default: 0] += 1
            case .foreign(let error):
                failures += 1
                let saved = FileManager.default.temporaryDirectory.appendingPathComponent("weights-fuzz-failure-\(seed)-\(iterations).bin")
                try? Data(input).write(to: saved)
                Issue.record("input \(iterations) (from \(origin)) failed with \(type(of: error)): \(error); saved to \(saved.path)")
                if failures > 10 { break }
            }
        }
        let elapsed = clock.now - start
        let kinds = rejected.sorted { $0.value > $1.value }.map { "\($0.key.rawValue) \($0.value)" }.joined(separator: ", ")
        print("weights fuzz: \(iterations) inputs in \(elapsed) (seed \(seed)): \(opened) opened, \(iterations - opened - failures) rejected [\(kinds)], \(failures) failures")
        #expect(iterations >= min(maxIterations, 500))
        #expect(opened > 0)
        #expect(rejected.count >= 5)
    }
}
