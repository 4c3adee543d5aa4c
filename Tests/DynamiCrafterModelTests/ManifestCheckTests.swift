import DynamiCrafterModel
import Foundation
import TensorCore
import TensorStorage
import Testing
import Weights

@Suite struct ManifestCheckTests {
    /// Writes the tiny-256 manifest as a safetensors file (zeros), after `edit`.
    private func writeCheckpoint(_ manifest: ParameterManifest, to path: String,
                                 edit: ([(name: String, info: TensorInfo)]) -> [(name: String, info: TensorInfo)]) throws {
        let entries = edit(manifest.entries.map { ($0.key, TensorInfo(dtype: .f32, shape: $0.shape)) })
        let infos = Dictionary(uniqueKeysWithValues: entries.map { ($0.name, $0.info) })
        try SafetensorsWriter.write(entries: entries, to: path) { name in
            let info = infos[name]!
            return TensorData(Tensor(zeros: info.shape))
        }
    }

    private func temporaryPath(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("manifest-\(UUID().uuidString)-\(name)").path
    }

    @Test func reportListsMissingUnexpectedAndMisshapedTogether() throws {
        let manifest = try ParameterManifest(config: ManifestFixtures.config("config-tiny-256.json"))
        let missingKey = "model.diffusion_model.init_attn.0.proj_in.weight"
        let wrongKey = "first_stage_model.decoder.conv_out.weight"
        let path = temporaryPath("bad.safetensors")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try writeCheckpoint(manifest, to: path) { entries in
            var e = entries.filter { $0.name != missingKey }
            e.append(("model.diffusion_model.surprise.weight", TensorInfo(dtype: .f32, shape: [2, 3])))
            let i = e.firstIndex { $0.name == wrongKey }!
            e[i] = (wrongKey, TensorInfo(dtype: .f32, shape: [3, 32, 3, 2]))
            return e
        }
        let archive = try WeightFile.open(path)
        let report = manifest.check(archive)
        #expect(report.missing.map(\.key) == [missingKey])
        #expect(report.missing.first?.expected == manifest.shape(of: missingKey))
        #expect(report.unexpected.map(\.key) == ["model.diffusion_model.surprise.weight"])
        #expect(report.mismatched.map(\.key) == [wrongKey])
        #expect(report.mismatched.first?.found == [3, 32, 3, 2])
        #expect(report.mismatched.first?.expected == [3, 32, 3, 3])
        #expect(report.problemCount == 3)
        #expect(!report.isClean)
        let text = report.description
        #expect(text.contains(missingKey) && text.contains("surprise") && text.contains(wrongKey))
        #expect(throws: ManifestMismatchError.self) { try manifest.validate(archive) }
    }

    @Test func legacyNamingIsAnAliasAndReported() throws {
        let manifest = try ParameterManifest(config: ManifestFixtures.config("config-tiny-256.json"))
        let legacy = manifest.entries.map { e in
            (key: e.key.replacingOccurrences(of: "diffusion_model.fps_embedding.", with: "diffusion_model.framestride_embed."),
             shape: e.shape, badDType: String?.none)
        }
        let report = manifest.check(tensors: legacy, file: "legacy")
        #expect(report.isClean, "\(report)")
        #expect(report.fpsEmbeddingNaming == .legacyFramestrideEmbed)

        let both = manifest.entries.map { (key: $0.key, shape: $0.shape, badDType: String?.none) }
            + [(key: "model.diffusion_model.framestride_embed.0.bias", shape: [128], badDType: nil)]
        let mixed = manifest.check(tensors: both, file: "mixed")
        #expect(mixed.fpsEmbeddingNaming == .mixed)
        #expect(mixed.unexpected.map(\.key) == ["model.diffusion_model.framestride_embed.0.bias"])
        #expect(mixed.missing.isEmpty)
    }

    @Test func integerTensorIsReported() throws {
        let manifest = try ParameterManifest(config: ManifestFixtures.config("config-tiny-512.json"))
        let tensors = manifest.entries.map { (key: $0.key, shape: $0.shape, badDType: $0.key == "betas" ? "i64" : nil) }
        let report = manifest.check(tensors: tensors, file: "x")
        #expect(report.wrongDType.map(\.key) == ["betas"])
        #expect(report.problemCount == 1)
    }
}
