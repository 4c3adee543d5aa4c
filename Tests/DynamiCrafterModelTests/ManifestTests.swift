import DynamiCrafterModel
import Foundation
import Testing
import TestingSupport
import Weights

/// Fixture access for the manifest/config tests.
enum ManifestFixtures {
    static func url(_ name: String) throws -> URL {
        try #require(Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: nil), "fixture \(name) missing")
    }

    /// key → shape from a reference-format key list (`key<TAB>shape<TAB>…`, "AxB" or "scalar").
    static func keyList(_ name: String) throws -> [String: [Int]] {
        let text = try String(contentsOf: url(name), encoding: .utf8)
        var result: [String: [Int]] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") && !line.hasPrefix("key\t") {
            let cols = line.split(separator: "\t", omittingEmptySubsequences: false)
            guard cols.count >= 2 else { continue }
            let shape = cols[1] == "scalar" ? [] : cols[1].split(separator: "x").map { Int($0)! }
            result[String(cols[0])] = shape
        }
        return result
    }

    static func config(_ name: String) throws -> ModelConfig {
        try ModelConfig.decode(json: Data(contentsOf: url(name)))
    }

    /// The reference's legacy-named checkpoint (`framestride_embed`, 21 MB: not committed), when
    /// `../shared/reference/golden` sits next to the package root or at /work/shared.
    static let framestrideCheckpoint: String? = {
        let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let candidates = [packageRoot.deletingLastPathComponent().appendingPathComponent("shared/reference/golden").path,
                          "/work/shared/reference/golden"]
        return candidates.map { $0 + "/tiny-256/weights_framestride.ckpt" }
            .first { FileManager.default.fileExists(atPath: $0) }
    }()

    /// Describes the difference between two key → shape maps (empty when equal).
    static func difference(_ got: [String: [Int]], _ want: [String: [Int]]) -> [String] {
        var out: [String] = []
        for k in Set(want.keys).subtracting(got.keys).sorted() { out.append("manifest lacks \(k) \(want[k]!)") }
        for k in Set(got.keys).subtracting(want.keys).sorted() { out.append("manifest has extra \(k) \(got[k]!)") }
        for k in Set(got.keys).intersection(want.keys).sorted() where got[k] != want[k] {
            out.append("\(k): manifest \(got[k]!), file \(want[k]!)")
        }
        return out
    }
}

@Suite struct ManifestPresetTests {
    @Test(arguments: [("256", "keys-256.tsv"), ("512", "keys-512.tsv"), ("512-interp", "keys-512.tsv"), ("1024", "keys-1024.tsv")])
    func presetManifestEqualsRealCheckpointKeys(preset: String, keys: String) throws {
        let p = try #require(Preset.named(preset))
        let manifest = try ParameterManifest(config: p.config)
        let want = try ManifestFixtures.keyList(keys)
        let diff = ManifestFixtures.difference(manifest.shapes, want)
        #expect(diff.isEmpty, "\(diff.count) differences, first: \(diff.prefix(10))")
        #expect(manifest.count == want.count)
    }

    @Test func elementCountsMatchSummary() throws {
        // keys/summary.json (and README §9).
        let m256 = try ParameterManifest(config: Preset.p256.config)
        #expect(m256.elementCount(prefix: CheckpointKeys.unet) == 1_438_854_996)
        #expect(m256.elementCount(prefix: CheckpointKeys.vae) == 83_653_863)
        #expect(m256.elementCount(prefix: "cond_stage_model.") == 354_032_641)
        #expect(m256.elementCount(prefix: "embedder.") == 683_800_065)
        #expect(m256.elementCount(prefix: CheckpointKeys.resampler) == 48_787_456)
        #expect(m256.elementCount() == 2_609_141_021)
        let m512 = try ParameterManifest(config: Preset.p512.config)
        #expect(m512.elementCount() == 2_609_142_405)
        #expect(m512.shape(of: "scale_arr") == [1400])
        #expect(m256.shape(of: "scale_arr") == nil)
    }

    @Test(arguments: ["tiny-256", "tiny-512"])
    func tinyManifestEqualsCommittedKeyList(name: String) throws {
        let manifest = try ParameterManifest(config: ManifestFixtures.config("config-\(name).json"))
        let want = try ManifestFixtures.keyList("keys-\(name).tsv")
        let diff = ManifestFixtures.difference(manifest.shapes, want)
        #expect(diff.isEmpty, "\(diff.count) differences, first: \(diff.prefix(10))")
    }

    /// Against the committed reference weights (every tensor of the tiny models; the token
    /// table is trimmed in content, not in shape).
    @Test(arguments: ReferenceFixtures.cases)
    func tinyManifestMatchesGoldenWeights(name: String) throws {
        let archive = try ReferenceFixtures.weights(name)
        let manifest = try ParameterManifest(config: ManifestFixtures.config("config-\(name).json"))
        var want: [String: [Int]] = [:]
        for n in archive.names { want[n] = try #require(archive.info(named: n)).shape }
        let diff = ManifestFixtures.difference(manifest.shapes, want)
        #expect(diff.isEmpty, "\(diff.count) differences, first: \(diff.prefix(10))")
        let report = manifest.check(archive)
        #expect(report.isClean, "\(report)")
        #expect(report.fpsEmbeddingNaming == .fpsEmbedding)
        #expect(report.matched == manifest.count)
    }

    @Test(.enabled(if: ManifestFixtures.framestrideCheckpoint != nil,
                   "needs ../shared/reference/golden/tiny-256/weights_framestride.ckpt (not in the repository)"))
    func legacyFramestrideCheckpointIsAccepted() throws {
        let archive = try WeightFile.open(try #require(ManifestFixtures.framestrideCheckpoint))
        let manifest = try ParameterManifest(config: ManifestFixtures.config("config-tiny-256.json"))
        let report = manifest.check(archive)
        #expect(report.isClean, "\(report)")
        #expect(report.fpsEmbeddingNaming == .legacyFramestrideEmbed)
        #expect(report.storedKey(for: "model.diffusion_model.fps_embedding.0.weight")
                == "model.diffusion_model.framestride_embed.0.weight")
    }
}
