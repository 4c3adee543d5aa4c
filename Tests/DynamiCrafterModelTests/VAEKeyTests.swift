import DynamiCrafterModel
import Foundation
import TensorCore
import TensorStorage
import Testing
import Weights

/// Serves zero tensors with the shapes of a real checkpoint's key list (keys-<n>.tsv) and
/// records which names were read.
final class VAEKeyListArchive: WeightArchive, @unchecked Sendable {
    let shapes: [String: [Int]]
    private let lock = NSLock()
    private var read: Set<String> = []

    init(tsv file: String, prefix: String) throws {
        let url = try #require(Bundle.module.url(forResource: "Fixtures/\(file)", withExtension: nil))
        var shapes: [String: [Int]] = [:]
        for line in try String(contentsOf: url, encoding: .utf8).split(separator: "\n").dropFirst() {
            let cols = line.split(separator: "\t", omittingEmptySubsequences: false)
            guard cols.count >= 2, cols[0].hasPrefix(prefix) else { continue }
            shapes[String(cols[0])] = cols[1].isEmpty ? [] : cols[1].split(separator: "x").map { Int($0)! }
        }
        self.shapes = shapes
    }

    var readNames: Set<String> { lock.withLock { read } }
    var path: String { "keys" }
    var format: WeightFileFormat { .safetensors }
    var names: [String] { shapes.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) } }
    func info(named name: String) -> TensorInfo? { shapes[name].map { TensorInfo(dtype: .f32, shape: $0) } }
    func tensor(named name: String) throws -> TensorData {
        lock.withLock { _ = read.insert(name) }
        return TensorData(Tensor(zeros: shapes[name]!))
    }
    var metadata: [String: String] { [:] }
    var fileSize: Int { 0 }
}

@Suite("VAE at the real size")
struct VAEKeyTests {
    /// The real (SD 2.1) VAE reads exactly the checkpoint's first_stage_model tensors, with their
    /// shapes, and maps 32×32 frames to a 4×4 latent and back.
    @Test("real-size VAE consumes every first_stage_model key of the 256 checkpoint")
    func realKeys() throws {
        let archive = try VAEKeyListArchive(tsv: "keys-256.tsv", prefix: "first_stage_model.")
        #expect(archive.shapes.count > 200)
        let config = try ManifestFixtures.config("config-256.json")
        let c = VAE.Configuration(config.params.firstStageConfig.params, scaleFactor: config.params.scaleFactor)
        #expect(c == VAE.Configuration())
        let ctx = ComputeContext(backend: try ComputeBackends.make(.openblas))
        let vae = try VAE(parameters: ParameterSource(archive: archive).scoped("first_stage_model"), configuration: c, context: ctx)
        #expect(archive.readNames == Set(archive.shapes.keys))
        let frames = Tensor(zeros: [1, 3, 32, 32])
        let post = try vae.encodeMoments(frames: frames)
        #expect(post.mean.shape == [1, 4, 4, 4] && post.std.shape == [1, 4, 4, 4])
        let out = try vae.decode(scaledLatent: post.mean)
        #expect(out.shape == [1, 3, 32, 32])
        let finite = out.scalars.allSatisfy { $0.isFinite }
        #expect(finite)
    }
}
