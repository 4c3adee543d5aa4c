import DiffusionPipeline
import DynamiCrafterModel
import Foundation
import TensorCore
import TensorStorage

/// The demo model at 32×32 frames, written to a temporary folder (removed with this object)
/// and loaded with the default backend.
final class DemoPipeline {
    let pipeline: AnimationPipeline
    let defaults: SamplingDefaults
    private let directory: String

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("demo-\(UUID().uuidString)").path
        let location = try DemoFiles(writingTo: directory)
        let model = try AnimationModel.load(path: location.weightsPath, config: location.config,
                                            context: ComputeContext(backend: ComputeBackends.makeDefault()))
        pipeline = AnimationPipeline(model: model)
        defaults = location.defaults
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }
}

/// The demo model written to a folder, and what loading it takes: the weights file, its
/// configuration and the sampling defaults that configuration implies. The pipeline's tests load
/// it directly; finding a model in a folder (`ModelLocation`) is the store's, tested there.
struct DemoFiles {
    let weightsPath: String
    let config: ModelConfig
    let defaults: SamplingDefaults

    init(writingTo directory: String, frameSize: Int = 32) throws {
        weightsPath = try DemoModel.write(to: directory, frameSize: frameSize).weights
        config = try DemoModel.config(frameSize: frameSize)
        defaults = .inferred(from: config)
    }
}

/// ‖a − b‖₂ / ‖b‖₂, accumulated in double.
func relativeL2(_ a: Tensor, _ b: Tensor) -> Double {
    var diff = 0.0, norm = 0.0
    for (x, y) in zip(a.scalars, b.scalars) {
        diff += (Double(x) - Double(y)) * (Double(x) - Double(y))
        norm += Double(y) * Double(y)
    }
    return (diff / norm).squareRoot()
}
