import DynamiCrafterModel
import Foundation
import TensorCore
import TestingSupport
import Testing
import Weights

/// Several weight files seen as one archive (the CLIP fixtures split the patch embedding and
/// its input into a second file to keep each file small).
struct CLIPMergedArchive: WeightArchive {
    let parts: [any WeightArchive]
    var path: String { parts.map(\.path).joined(separator: "+") }
    var format: WeightFileFormat { parts[0].format }
    var names: [String] {
        parts.flatMap(\.names).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }
    func info(named name: String) -> TensorInfo? {
        for p in parts { if let i = p.info(named: name) { return i } }
        return nil
    }
    func tensor(named name: String) throws -> TensorData {
        for p in parts where p.contains(name) { return try p.tensor(named: name) }
        return try parts[0].tensor(named: name)
    }
    var metadata: [String: String] { parts[0].metadata }
    var fileSize: Int { parts.reduce(0) { $0 + $1.fileSize } }
}

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
        archive = CLIPMergedArchive(parts: [try open("clip-\(name).safetensors"), try open("clip-\(name)-patch.safetensors")])
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

/// Collects the taps a forward pass reports.
final class CLIPTapRecorder: @unchecked Sendable {
    private(set) var taps: [String: Tensor] = [:]
    func record(_ name: String, _ t: Tensor) { taps[name] = t }
}

/// Compares a result with its golden, records the error in the test output, and expects it
/// within `tolerance`.
func expectCLIPClose(_ actual: Tensor?, _ golden: Tensor, _ label: String, tolerance: Float = 1e-4,
                 sourceLocation: SourceLocation = #_sourceLocation) {
    guard let actual else {
        Issue.record("\(label): no value", sourceLocation: sourceLocation)
        return
    }
    guard actual.shape == golden.shape else {
        Issue.record("\(label): shape \(actual.shape), golden \(golden.shape)", sourceLocation: sourceLocation)
        return
    }
    let e = clipRelativeError(actual, golden)
    print("[clip-golden] \(label): relative error \(e)")
    #expect(e <= tolerance, "\(label): relative error \(e)", sourceLocation: sourceLocation)
}

let clipCases = ["tiny-256", "tiny-512"]
let clipBackends: [BackendKind] = [.onednn, .openblas, .reference]
