import DiffusionPipeline
import Foundation
@testable import ModelStore
import TensorCore
import TensorStorage
import Testing
import TestingSupport

/// The tiny models and temporary stores the model-store suites share: the demo model at 32×32
/// frames (the real architecture's keys at toy widths, f16 safetensors) and the same weights
/// as an f32 PyTorch Lightning `.ckpt`, the published checkpoints' format.
enum StoreFixtures {
    static let demo: String = {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("modelstore-demo-\(getpid())").path
        _ = try? DemoModel.write(to: dir, frameSize: 32)
        _ = try? TestCheckpointWriter.write(weightsAt: dir + "/model.safetensors", to: dir + "/model-f32.ckpt", dtype: .f32)
        return dir
    }()
    static var demoWeights: String { demo + "/model.safetensors" }
    static var demoConfig: String { demo + "/config.json" }
    /// The demo weights as an f32 `.ckpt` (twice the safetensors' size).
    static var demoCheckpoint: String { demo + "/model-f32.ckpt" }

    /// A fresh store in a temporary folder, removed afterwards; `body` gets the store and the folder.
    static func withStore<R>(_ body: (ModelStore, String) throws -> R) throws -> R {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("modelstore-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        return try body(ModelStore(directory: root + "/models"), root)
    }

    static func server(_ root: String, serving file: String = demoWeights) throws -> TestServer {
        try TestServer(serving: file, directory: root)
    }

    static func request(_ server: TestServer, _ mode: String, name: String = "tiny") throws -> FetchRequest {
        FetchRequest(name: name, url: try #require(URL(string: server.base(mode) + "/Doubiiu/Tiny/resolve/main/model.ckpt")),
                     check: .configFile(demoConfig))
    }

    /// Everything in the models directory, hidden names included.
    static func contents(_ store: ModelStore) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: store.directory)) ?? []).sorted()
    }

    static func size(_ path: String) -> Int64 {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.int64Value ?? -1
    }
}
