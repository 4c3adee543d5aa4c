import DiffusionPipeline
import DynamiCrafterModel
import Foundation
import Imaging
import TensorCore
import TensorStorage
import Testing

/// The whole-pipeline pieces the golden sampling runs do not reach: option resolution,
/// multi-condition guidance, cancellation. (Locating models is the store's: ModelStoreTests.)
@Suite("animation pipeline")
struct AnimationPipelineTests {
    @Test("options resolve over the preset defaults and out-of-range values are refused by name")
    func settings() throws {
        let s = try AnimationSettings(options: AnimationOptions(prompt: "x"), defaults: Preset.p512.sampling)
        #expect(s.frames == 16 && s.steps == 50 && s.guidanceScale == 7.5 && s.eta == 1)
        #expect(s.frameStride == 24 && s.timestepSpacing == .uniformTrailing && s.guidanceRescale == 0.7)
        #expect(s.perFrameVAE && s.mode == .animate && s.seed == 123 && s.outputFPS == 8)
        let interp = try AnimationSettings(options: AnimationOptions(), defaults: Preset.p512Interp.sampling)
        #expect(interp.mode == .interpolate && interp.frameStride == 5)
        var loop = AnimationOptions()
        loop.mode = .loop
        #expect(try AnimationSettings(options: loop, defaults: Preset.p256.sampling).outputFrameCount == 15)

        func refused(_ edit: (inout AnimationOptions) -> Void, _ name: String) {
            var o = AnimationOptions()
            edit(&o)
            #expect {
                _ = try AnimationSettings(options: o, defaults: Preset.p256.sampling)
            } throws: { error in
                guard case AnimationError.invalidOption(let n, _, _) = error else { return false }
                return n == name
            }
        }
        refused({ $0.frames = 1 }, "frames")
        refused({ $0.frames = 65 }, "frames")
        refused({ $0.steps = 0 }, "steps")
        refused({ $0.steps = 3 }, "steps")      // 'uniform': 1, 334, 667, 1000
        refused({ $0.steps = 300 }, "steps")
        refused({ $0.guidanceScale = .nan }, "cfg-scale")
        refused({ $0.guidanceScale = -1 }, "cfg-scale")
        refused({ $0.imageGuidanceScale = .infinity }, "image-cfg-scale")
        refused({ $0.eta = -0.5 }, "eta")
        refused({ $0.frameStride = 0 }, "frame-stride/fps")
    }

    @Test("image guidance: (u + sᵢ(uᵢ − u)) + s(c − uᵢ) in float32, equal to plain guidance when uᵢ = c")
    func multiConditionGuidance() throws {
        var rng = SystemRandomNumberGenerator()
        func random(_ n: Int) -> [Float] { (0..<n).map { _ in Float.random(in: -2...2, using: &rng) } }
        let shape = [1, 4, 2, 3, 3]
        let n = shape.reduce(1, *)
        let c = random(n), u = random(n), ui = random(n)
        let schedule = try DDIMSchedule(schedule: NoiseSchedule.dynamiCrafter256(), steps: 10, spacing: .uniform, eta: 1)
        let multi = try DDIMSampler(schedule: schedule, parameterization: .eps,
                                    guidance: GuidanceConfig(scale: 7.5, rescale: 0, imageScale: 2.5))
        let prediction = NoisePrediction(conditional: try Tensor(shape: shape, scalars: c),
                                         unconditional: try Tensor(shape: shape, scalars: u),
                                         imageOnly: try Tensor(shape: shape, scalars: ui))
        let guided = try multi.guidedOutput(prediction).scalars
        for i in 0..<n {
            let imageTerm = Float(2.5) * (ui[i] - u[i])
            let textTerm = Float(7.5) * (c[i] - ui[i])
            #expect(guided[i] == (u[i] + imageTerm) + textTerm)
        }
        // Without the image-only output the sampler refuses rather than guessing.
        #expect(throws: DDIMSamplerError.self) {
            _ = try multi.guidedOutput(NoisePrediction(conditional: prediction.conditional, unconditional: prediction.unconditional))
        }
        // sᵢ = s and uᵢ = c collapse to plain guidance (up to rounding).
        let same = try DDIMSampler(schedule: schedule, parameterization: .eps,
                                   guidance: GuidanceConfig(scale: 7.5, rescale: 0, imageScale: 7.5))
        let plain = try DDIMSampler(schedule: schedule, parameterization: .eps, guidance: GuidanceConfig(scale: 7.5))
        let collapsed = try same.guidedOutput(NoisePrediction(conditional: prediction.conditional,
                                                              unconditional: prediction.unconditional,
                                                              imageOnly: prediction.conditional)).scalars
        let reference = try plain.guidedOutput(prediction).scalars
        for i in 0..<n { #expect(abs(collapsed[i] - reference[i]) <= 1e-5 * max(1, abs(reference[i]))) }
    }

    @Test("a run on the demo model: frames, determinism, image guidance, cancellation between blocks")
    func demoRun() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pipeline-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let location = try DemoFiles(writingTo: dir)
        let model = try AnimationModel.load(path: location.weightsPath, config: location.config,
                                            context: ComputeContext(backend: ComputeBackends.makeDefault()))
        #expect(model.frameSize == (32, 32) && model.trainedFrameCount == 16)
        let pipeline = AnimationPipeline(model: model)
        let image = try pipeline.prepareImage(RGBImage(width: 48, height: 40, pixels: (0..<(48 * 40 * 3)).map { UInt8($0 % 251) }))
        var options = AnimationOptions(prompt: "test")
        options.frames = 3
        options.steps = 2
        let settings = try AnimationSettings(options: options, defaults: location.defaults)

        var stages: [AnimationStage] = []
        var hooks = AnimationHooks()
        hooks.progress = { stages.append($0.stage) }
        var noise = TorchRandom(seed: 5)
        let a = try pipeline.run(image: image, settings: settings, noise: &noise, hooks: hooks)
        #expect(a.frames.count == 3 && a.frames[0].width == 32)
        #expect(a.video.shape == [1, 3, 3, 32, 32])
        #expect(stages.first == .encoding && stages.last == .decoding && stages.filter { $0 == .denoising }.count == 3)
        var again = TorchRandom(seed: 5)
        let b = try pipeline.run(image: image, settings: settings, noise: &again)
        #expect(a.frames == b.frames)

        var withImageGuidance = options
        withImageGuidance.imageGuidanceScale = 3
        var noise3 = TorchRandom(seed: 5)
        let c = try pipeline.run(image: image, settings: AnimationSettings(options: withImageGuidance, defaults: location.defaults),
                                 noise: &noise3)
        #expect(c.frames.count == 3 && c.frames != a.frames)

        // Cancelled at the n-th check: the run stops there, mid-UNet, with `cancelled`.
        var checks = 0
        var cancelling = AnimationHooks()
        cancelling.isCancelled = {
            checks += 1
            return checks > 4
        }
        var noise4 = TorchRandom(seed: 5)
        #expect(throws: AnimationError.cancelled) {
            _ = try pipeline.run(image: image, settings: settings, noise: &noise4, hooks: cancelling)
        }
        #expect(checks == 5)

        // Wrong image size and an end image outside interpolation are refused.
        var noise5 = TorchRandom(seed: 5)
        #expect(throws: AnimationError.self) {
            _ = try pipeline.run(image: Tensor(zeros: [1, 3, 16, 16]), settings: settings, noise: &noise5)
        }
        #expect(throws: AnimationError.self) {
            _ = try pipeline.run(image: image, endImage: image, settings: settings, noise: &noise5)
        }
    }
}
