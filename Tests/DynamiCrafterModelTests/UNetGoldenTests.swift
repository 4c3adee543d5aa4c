import DynamiCrafterModel
import Foundation
import TensorCore
import TensorStorage
import TestingSupport
import Testing
import Weights

/// One tiny golden UNet case of the committed reference set (`ReferenceFixtures`): the case's
/// weights (the UNet reads its `model.diffusion_model.*` share) merged with its `unet.safetensors`
/// goldens: inputs, outputs and per-block taps under their golden names (b1.x, b1.tap.*, b2.out, …).
struct UNetFixture: Sendable {
    let name: String
    let archive: any WeightArchive

    init(_ name: String) throws {
        self.name = name
        let weights = try ReferenceFixtures.weightPaths(name).map { try WeightFile.open($0) }
        archive = try UNetMergedArchive(parts: weights + [try ReferenceFixtures.golden(name, "unet.safetensors")])
    }

    func tensor(_ key: String) throws -> Tensor { try archive.tensor(named: key).toTensor() }
    func ints(_ key: String) throws -> [Int] { try tensor(key).scalars.map { Int($0) } }

    var parameters: ParameterSource { ParameterSource(archive: archive, prefix: "model.diffusion_model.") }

    /// `unet_config.params` of the case, as in the golden manifest.
    func config() throws -> UNetParams {
        let mult = name == "tiny-256" ? "[1, 2]" : "[1, 2, 2]"
        let extra = name == "tiny-256"
            ? "\"image_cross_attention_scale_learnable\": true, \"default_fs\": 3,"
            : "\"default_fs\": 24,"
        let json = """
        {"in_channels": 8, "out_channels": 4, "model_channels": 32, "attention_resolutions": [1, 2],
         "num_res_blocks": 1, "channel_mult": \(mult), "dropout": 0.1, "num_head_channels": 16,
         "transformer_depth": 1, "context_dim": 32, "use_linear": true, "use_checkpoint": false,
         "temporal_conv": true, "temporal_attention": true, "temporal_selfatt_only": true,
         "use_relative_position": false, "use_causal_attention": false, "temporal_length": 4,
         "addition_attention": true, "image_cross_attention": true, \(extra) "fs_condition": true}
        """
        return try JSONDecoder().decode(UNetParams.self, from: Data(json.utf8))
    }

    func model(_ backend: BackendKind) throws -> UNet {
        let ctx = ComputeContext(backend: try ComputeBackends.make(backend))
        return try UNet(parameters: parameters, config: try config(), context: ctx)
    }
}

typealias UNetMergedArchive = MergedArchive

/// An archive that renames (old → new prefix), hides or reshapes tensors of another.
struct UNetAlteredArchive: WeightArchive {
    let base: any WeightArchive
    var renamedPrefix: (from: String, to: String)? = nil
    var hidden: Set<String> = []
    var reshaped: [String: [Int]] = [:]
    var path: String { base.path }
    var format: WeightFileFormat { base.format }
    private func original(_ name: String) -> String? {
        if hidden.contains(name) { return nil }
        if let r = renamedPrefix {
            if name.hasPrefix(r.to) { return r.from + name.dropFirst(r.to.count) }
            if name.hasPrefix(r.from) { return nil }
        }
        return name
    }
    var names: [String] {
        base.names.compactMap { n -> String? in
            if hidden.contains(n) { return nil }
            if let r = renamedPrefix, n.hasPrefix(r.from) { return r.to + n.dropFirst(r.from.count) }
            return n
        }
    }
    func info(named name: String) -> TensorInfo? {
        guard let o = original(name), let i = base.info(named: o) else { return nil }
        if let s = reshaped[name] { return TensorInfo(dtype: i.dtype, shape: s) }
        return i
    }
    func tensor(named name: String) throws -> TensorData {
        guard let o = original(name) else { return try base.tensor(named: "\u{0}missing \(name)") }
        let t = try base.tensor(named: o)
        if let s = reshaped[name] { return try t.reshaped(s) }
        return t
    }
    var metadata: [String: String] { base.metadata }
    var fileSize: Int { base.fileSize }
}

/// Records which tensors were read from another archive.
final class UNetRecordingArchive: WeightArchive, @unchecked Sendable {
    let base: any WeightArchive
    private let lock = NSLock()
    private var readNames: Set<String> = []
    init(base: any WeightArchive) { self.base = base }
    var read: Set<String> { lock.withLock { readNames } }
    var path: String { base.path }
    var format: WeightFileFormat { base.format }
    var names: [String] { base.names }
    func info(named name: String) -> TensorInfo? { base.info(named: name) }
    func tensor(named name: String) throws -> TensorData {
        lock.withLock { _ = readNames.insert(name) }
        return try base.tensor(named: name)
    }
    var metadata: [String: String] { base.metadata }
    var fileSize: Int { base.fileSize }
}

let unetCases = ["tiny-256", "tiny-512"]
let unetBackends: [BackendKind] = [.onednn, .openblas]
/// The batch-1 tap test also runs on the (slow) reference backend.
let unetTapBackends: [BackendKind] = [.onednn, .openblas, .reference]

@Suite("UNet golden")
struct UNetGoldenTests {
    @Test("batch 1 forward: every tap and the output", arguments: unetCases, unetTapBackends)
    func forwardWithTaps(caseName: String, backend: BackendKind) throws {
        let f = try UNetFixture(caseName)
        let unet = try f.model(backend)
        let recorder = TapRecorder()
        let out = try unet(x: f.tensor("b1.x"), timesteps: f.ints("b1.t"), context: f.tensor("b1.context"),
                           fs: f.ints("b1.fs"), tap: recorder.record)
        let label = "\(caseName) \(backend)"
        let tapNames = f.archive.names.filter { $0.hasPrefix("b1.tap.") }
        #expect(!tapNames.isEmpty)
        for key in tapNames {
            let name = String(key.dropFirst("b1.tap.".count))
            expectGoldenClose(recorder.taps[name], try f.tensor(key), "\(label) tap \(name)")
        }
        expectGoldenClose(out, try f.tensor("b1.out"), "\(label) out")
    }

    @Test("fs = nil uses default_fs", arguments: unetCases, unetBackends)
    func defaultFs(caseName: String, backend: BackendKind) throws {
        let f = try UNetFixture(caseName)
        let out = try f.model(backend)(x: f.tensor("b1.x"), timesteps: f.ints("b1.t"),
                                       context: f.tensor("b1.context"), fs: nil, tap: nil)
        expectGoldenClose(out, try f.tensor("b1_default_fs.out"), "\(caseName) \(backend) default fs")
    }

    @Test("batch 2 (cond + uncond)", arguments: unetCases, unetBackends)
    func batchTwo(caseName: String, backend: BackendKind) throws {
        let f = try UNetFixture(caseName)
        let out = try f.model(backend)(x: f.tensor("b2.x"), timesteps: f.ints("b2.t"),
                                       context: f.tensor("b2.context"), fs: f.ints("b2.fs"), tap: nil)
        expectGoldenClose(out, try f.tensor("b2.out"), "\(caseName) \(backend) batch 2")
    }

    @Test("unconditional context", arguments: unetCases, unetBackends)
    func uncond(caseName: String, backend: BackendKind) throws {
        let f = try UNetFixture(caseName)
        let b2 = try f.tensor("b2.context")
        let uncondContext = try b2.sliced(along: 0, range: 1 ..< 2)
        let out = try f.model(backend)(x: f.tensor("b1.x"), timesteps: f.ints("b1.t"),
                                       context: uncondContext, fs: f.ints("b1.fs"), tap: nil)
        expectGoldenClose(out, try f.tensor("b1_uncond.out"), "\(caseName) \(backend) uncond")
    }

    @Test("legacy framestride_embed naming loads and gives the same output")
    func legacyFramestrideName() throws {
        let f = try UNetFixture("tiny-256")
        let renamed = UNetAlteredArchive(base: f.archive,
                                         renamedPrefix: ("model.diffusion_model.fps_embedding.",
                                                         "model.diffusion_model.framestride_embed."))
        #expect(!renamed.contains("model.diffusion_model.fps_embedding.0.weight"))
        #expect(renamed.contains("model.diffusion_model.framestride_embed.0.weight"))
        let ctx = ComputeContext(backend: try ComputeBackends.make(.onednn))
        let unet = try UNet(parameters: ParameterSource(archive: renamed, prefix: "model.diffusion_model."),
                            config: try f.config(), context: ctx)
        let out = try unet(x: f.tensor("b1.x"), timesteps: f.ints("b1.t"), context: f.tensor("b1.context"),
                           fs: f.ints("b1.fs"), tap: nil)
        expectGoldenClose(out, try f.tensor("b1.out"), "tiny-256 legacy framestride_embed")
    }

    @Test("missing and misshapen weights are reported by key")
    func loadErrors() throws {
        let f = try UNetFixture("tiny-512")
        let ctx = ComputeContext(backend: try ComputeBackends.make(.onednn))
        let missingKey = "model.diffusion_model.output_blocks.5.2.transformer_blocks.0.attn1.to_q.weight"
        let missing = UNetAlteredArchive(base: f.archive, hidden: [missingKey])
        #expect(throws: ModelLoadError.missing(key: missingKey, expected: [32, 32], file: f.archive.path)) {
            _ = try UNet(parameters: ParameterSource(archive: missing, prefix: "model.diffusion_model."),
                         config: try f.config(), context: ctx)
        }
        let badKey = "model.diffusion_model.input_blocks.1.0.temopral_conv.conv3.3.weight"
        let bad = UNetAlteredArchive(base: f.archive, reshaped: [badKey: [32, 32, 3, 1]])
        #expect(throws: ModelLoadError.shapeMismatch(key: badKey, expected: [32, 32, 3, 1, 1],
                                                     found: [32, 32, 3, 1], file: f.archive.path)) {
            _ = try UNet(parameters: ParameterSource(archive: bad, prefix: "model.diffusion_model."),
                         config: try f.config(), context: ctx)
        }
        // tiny-512 has no learnable image gates: asking for them must fail on attn2.alpha.
        var gated = try f.config()
        gated.imageCrossAttentionScaleLearnable = true
        #expect(throws: ModelLoadError.self) {
            _ = try UNet(parameters: f.parameters, config: gated, context: ctx)
        }
    }

    @Test("loading reads every model.diffusion_model weight", arguments: unetCases)
    func everyWeightUsed(caseName: String) throws {
        let f = try UNetFixture(caseName)
        let recording = UNetRecordingArchive(base: f.archive)
        let ctx = ComputeContext(backend: try ComputeBackends.make(.onednn))
        _ = try UNet(parameters: ParameterSource(archive: recording, prefix: "model.diffusion_model."),
                     config: try f.config(), context: ctx)
        let all = Set(f.archive.names.filter { $0.hasPrefix("model.diffusion_model.") })
        let unused = all.subtracting(recording.read).sorted()
        #expect(unused.isEmpty, "unused weights: \(unused)")
        #expect(recording.read.isSubset(of: all))
    }

    /// A context whose length is not 77 + 16·T is repeated unchanged for every frame: with 16
    /// image tokens that equals the per-frame path fed those same 16 tokens for every frame.
    @Test("context length other than 77 + 16·T is shared by all frames")
    func sharedContextFallback() throws {
        let f = try UNetFixture("tiny-256")
        let unet = try f.model(.onednn)
        let context = try f.tensor("b1.context")
        let t = try f.tensor("b1.x").shape[2]
        let short = try context.sliced(along: 1, range: 0 ..< 77 + 16)
        let image = try context.sliced(along: 1, range: 77 ..< 77 + 16)
        let perFrame = try Tensor.concatenated([try context.sliced(along: 1, range: 0 ..< 77),
                                                try image.repeated(along: 1, count: t)], along: 1)
        #expect(perFrame.shape == context.shape)
        let recorder = TapRecorder()
        let a = try unet(x: f.tensor("b1.x"), timesteps: f.ints("b1.t"), context: short, fs: f.ints("b1.fs"),
                         tap: recorder.record)
        #expect(recorder.taps["context_frames"]?.shape == [t, 77 + 16, context.shape[2]])
        let b = try unet(x: f.tensor("b1.x"), timesteps: f.ints("b1.t"), context: perFrame, fs: f.ints("b1.fs"),
                         tap: nil)
        #expect(relativeError(a, b) <= 1e-6)
    }
}
