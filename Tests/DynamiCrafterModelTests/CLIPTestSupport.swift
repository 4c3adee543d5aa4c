import DynamiCrafterModel
import Foundation
import TensorCore
import TensorStorage
import TestingSupport
import Testing
import Weights

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

/// One tiny golden case of the committed reference set (`ReferenceFixtures`): the case's weights
/// (the towers read `cond_stage_model.*`, `embedder.*` and `image_proj_model.*`) and the goldens of
/// its `text_encoder.safetensors` and `image_vision.safetensors`, asked for as `text.<name>` and
/// `image.<name>`.
struct CLIPFixture: Sendable {
    let name: String
    let archive: any WeightArchive
    private let text: any WeightArchive
    private let image: any WeightArchive

    init(_ name: String) throws {
        self.name = name
        archive = try ReferenceFixtures.weights(name)
        text = try ReferenceFixtures.golden(name, "text_encoder.safetensors")
        image = try ReferenceFixtures.golden(name, "image_vision.safetensors")
    }

    func tensor(_ key: String) throws -> Tensor {
        if key.hasPrefix("text.") { return try text.tensor(named: String(key.dropFirst(5))).toTensor() }
        if key.hasPrefix("image.") { return try image.tensor(named: String(key.dropFirst(6))).toTensor() }
        return try archive.tensor(named: key).toTensor()
    }

    var parameters: ParameterSource { ParameterSource(archive: archive) }

    /// The golden prompts' token ids (int64 in the file; every id is below 2^24, so the float
    /// copy `toTensor` makes holds them exactly).
    func textIDs() throws -> [[Int32]] {
        let ids = try tensor("text.ids")
        try #require(ids.shape.count == 2)
        let cols = ids.shape[1]
        let values = ids.scalars.map { Int32($0) }
        return (0..<ids.shape[0]).map { r in Array(values[(r * cols)..<((r + 1) * cols)]) }
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
