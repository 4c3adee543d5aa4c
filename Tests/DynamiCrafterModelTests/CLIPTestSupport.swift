import DynamiCrafterModel
import Foundation
import TensorCore
import TensorStorage
import TestingSupport
import Testing
import Weights

typealias CLIPMergedArchive = MergedArchive

/// An archive that renames, reshapes or hides tensors of another, for the load-error tests.
struct CLIPAlteredArchive: WeightArchive {
    let base: any WeightArchive
    var hidden: Set<String> = []
    var reshaped: [String: [Int]] = [:]
    /// Tensors served as float16 (as a half-precision checkpoint stores them).
    var half: Set<String> = []
    var path: String { base.path }
    var format: WeightFileFormat { base.format }
    var names: [String] { base.names.filter { !hidden.contains($0) } }
    func info(named name: String) -> TensorInfo? {
        guard !hidden.contains(name), let i = base.info(named: name) else { return nil }
        if let s = reshaped[name] { return TensorInfo(dtype: i.dtype, shape: s) }
        if half.contains(name) { return TensorInfo(dtype: .f16, shape: i.shape) }
        return i
    }
    func tensor(named name: String) throws -> TensorData {
        let t = try base.tensor(named: name)
        if let s = reshaped[name] { return try t.reshaped(s) }
        if half.contains(name) { return try t.converted(to: .f16) }
        return t
    }
    var metadata: [String: String] { base.metadata }
    var fileSize: Int { base.fileSize }
}

/// One tiny golden case: weights, inputs, outputs and taps of the CLIP towers and the Resampler
/// (extracted by scripts/extract_clip_fixtures.py).
struct CLIPFixture: Sendable {
    let name: String
    let archive: any WeightArchive

    init(_ name: String) throws {
        func open(_ file: String) throws -> any WeightArchive {
            let url = try #require(Bundle.module.url(forResource: "Fixtures/\(file)", withExtension: nil),
                                   "fixture \(file) missing from the test bundle")
            return try WeightFile.open(url.path)
        }
        self.name = name
        archive = try CLIPMergedArchive(parts: [try open("clip-\(name).safetensors"), try open("clip-\(name)-patch.safetensors")])
    }

    func tensor(_ key: String) throws -> Tensor { try archive.tensor(named: key).toTensor() }

    var parameters: ParameterSource { ParameterSource(archive: archive) }

    /// The golden ids renumbered into the fixture's compact vocabulary.
    func textIDs() throws -> [[Int32]] {
        let ids = try archive.tensor(named: "text.ids")
        try #require(ids.dtype == .i32 && ids.shape.count == 2)
        let rows = ids.shape[0], cols = ids.shape[1]
        return (0..<rows).map { r in
            (0..<cols).map { c in ids.bytes.loadUnaligned(fromByteOffset: 4 * (r * cols + c), as: Int32.self) }
        }
    }

    func textConfiguration() throws -> CLIPTextEncoder.Configuration {
        let emb = try #require(archive.info(named: "cond_stage_model.model.token_embedding.weight"))
        let width = emb.shape[1]
        let layers = archive.names.compactMap { name -> Int? in
            let prefix = "cond_stage_model.model.transformer.resblocks."
            guard name.hasPrefix(prefix) else { return nil }
            return Int(name.dropFirst(prefix.count).prefix { $0 != "." })
        }.max()! + 1
        return .init(width: width, heads: 2, layers: layers, contextLength: 77, vocabSize: emb.shape[0])
    }

    var visionConfiguration: CLIPVisionEncoder.Configuration {
        .init(width: 64, heads: 4, layers: 2, patchSize: 32)
    }

    /// The Resampler configurations of the manifest's tiny cases.
    var resamplerConfiguration: Resampler.Configuration {
        name == "tiny-512"
            ? .init(dim: 80, depth: 2, dimHead: 16, heads: 3, numQueries: 16, embeddingDim: 64, outputDim: 32, ffMult: 4, videoLength: 4)
            : .init(dim: 64, depth: 2, dimHead: 16, heads: 4, numQueries: 16, embeddingDim: 64, outputDim: 32, ffMult: 4, videoLength: 4)
    }
}

/// max |a − b| / max |b|: the error measure of the golden tests.
func clipRelativeError(_ a: Tensor, _ b: Tensor) -> Float { relativeError(a, b) }

let clipCases = ["tiny-256", "tiny-512"]
let clipBackends: [BackendKind] = [.onednn, .openblas, .reference]
