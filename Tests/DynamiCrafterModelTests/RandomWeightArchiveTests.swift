import DynamiCrafterModel
import Foundation
import TensorCore
import TensorStorage
import Testing
import Weights

@Suite("Random weight archive")
struct RandomWeightArchiveTests {
    private func tinyConfig() throws -> ModelConfig {
        let url = try #require(Bundle.module.url(forResource: "Fixtures/config-tiny-256.json", withExtension: nil),
                               "fixture config-tiny-256.json missing from the test bundle")
        return try ModelConfig.load(path: url.path)
    }

    private func floats(_ t: TensorData) -> [Float] { t.toTensor().scalars }

    private func rms(_ v: [Float]) -> Float {
        Float((v.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(v.count)).squareRoot())
    }

    @Test("it holds exactly the manifest's keys and shapes, as float32")
    func keysAndShapes() throws {
        let manifest = try ParameterManifest(config: try tinyConfig())
        let archive = RandomWeightArchive(manifest: manifest, seed: 7, label: "tiny")
        #expect(archive.names == manifest.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })
        #expect(archive.path == "random:tiny")
        for entry in manifest.entries {
            #expect(archive.info(named: entry.key) == TensorInfo(dtype: .f32, shape: entry.shape))
        }
        #expect(archive.fileSize == 4 * manifest.elementCount())
        let key = "model.diffusion_model.input_blocks.0.0.weight"
        let t = try archive.tensor(named: key)
        #expect(t.dtype == .f32 && t.shape == manifest.shape(of: key))
        #expect(throws: WeightsError.self) { try archive.tensor(named: "model.diffusion_model.nope") }
    }

    @Test("the real 256 manifest is 2.6 G parameters, none synthesised up front")
    func real256() throws {
        let manifest = try ParameterManifest(config: Preset.p256.config)
        let archive = RandomWeightArchive(manifest: manifest)
        #expect(archive.totalElementCount == manifest.elementCount())
        #expect(archive.fileSize > 10_000_000_000)
    }

    @Test("values are a function of seed and key only")
    func deterministic() throws {
        let manifest = try ParameterManifest(config: try tinyConfig())
        let a = RandomWeightArchive(manifest: manifest, seed: 1)
        let b = RandomWeightArchive(manifest: manifest, seed: 1)
        let c = RandomWeightArchive(manifest: manifest, seed: 2)
        let key = "first_stage_model.decoder.up.1.block.0.conv1.weight"
        let first = floats(try a.tensor(named: key))
        #expect(first == floats(try a.tensor(named: key)))
        #expect(first == floats(try b.tensor(named: key)))
        #expect(first != floats(try c.tensor(named: key)))
        #expect(first != floats(try a.tensor(named: "first_stage_model.decoder.up.1.block.0.conv2.weight")))
        // Split over threads or not, the same values.
        let single = Threading.threadCount
        Threading.configure(threads: 1)
        defer { Threading.configure(threads: single) }
        #expect(first == floats(try a.tensor(named: key)))
    }

    @Test("weights have standard deviation 1/√fan_in, norm scales are near 1, biases small")
    func distributions() throws {
        let manifest = try ParameterManifest(config: Preset.p256.config)
        let archive = RandomWeightArchive(manifest: manifest, seed: 3)
        // A 3×3 convolution of the UNet: [320, 320, 3, 3], fan_in 2880.
        let conv = floats(try archive.tensor(named: "model.diffusion_model.input_blocks.1.0.in_layers.2.weight"))
        let bound = Float(3).squareRoot() / Float(2880).squareRoot()
        let mean = Float(conv.reduce(0.0) { $0 + Double($1) } / Double(conv.count))
        let std = rms(conv)
        #expect(abs(std * Float(2880).squareRoot() - 1) < 0.02)
        #expect(abs(mean) < 0.01 * std)
        #expect(conv.allSatisfy { abs($0) <= bound })
        let scale = floats(try archive.tensor(named: "model.diffusion_model.input_blocks.1.0.in_layers.0.weight"))
        #expect(scale.allSatisfy { $0 >= 0.9 && $0 <= 1.1 })
        #expect(Set(scale).count > 1)
        let bias = floats(try archive.tensor(named: "model.diffusion_model.input_blocks.1.0.in_layers.2.bias"))
        #expect(bias.allSatisfy { abs($0) <= 0.02 })
        let latents = floats(try archive.tensor(named: "image_proj_model.latents"))
        #expect(abs(rms(latents) - 0.02) < 0.001)
        #expect(floats(try archive.tensor(named: "model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.alpha"))
            .allSatisfy { abs($0) <= 0.02 })
    }

    @Test("the tiny VAE and CLIP towers build from it and give finite outputs")
    func blocksRun() throws {
        let config = try tinyConfig()
        let archive = RandomWeightArchive(manifest: try ParameterManifest(config: config), seed: 5)
        let context = ComputeContext(backend: try ComputeBackends.make(.onednn))
        let p = config.params
        let vae = try VAE(parameters: ParameterSource(archive: archive, prefix: CheckpointKeys.vae),
                          config: p.firstStageConfig.params, context: context)
        let z = Tensor(shape: [2, 4, 8, 8], repeating: 0.5)
        let frames = try vae.decode(scaledLatent: z)
        #expect(frames.shape == [2, 3, 64, 64])
        #expect(frames.scalars.allSatisfy { $0.isFinite })

        let text = try CLIPTextEncoder(parameters: ParameterSource(archive: archive, prefix: CheckpointKeys.textEncoder),
                                       configuration: .init(try config.textEncoderArchitecture().textCfg), context: context)
        let ids: [Int32] = [49406, 320, 1125, 49407] + Array(repeating: 0, count: 73)
        let encoded = try text.encode(tokens: [ids])
        #expect(encoded.shape == [1, 77, 32])
        #expect(encoded.scalars.allSatisfy { $0.isFinite })

        let vision = try CLIPVisionEncoder(
            parameters: ParameterSource(archive: archive, prefix: CheckpointKeys.imageEncoder + "visual."),
            configuration: .init(try config.imageEncoderArchitecture().visionCfg), context: context)
        let tokens = try vision.encode(Tensor(shape: [1, 3, 224, 224], repeating: 0.1))
        let resampler = try Resampler(parameters: ParameterSource(archive: archive, prefix: CheckpointKeys.resampler),
                                      configuration: .init(p.imageProjStageConfig.params), context: context)
        let imageContext = try resampler.callAsFunction(tokens)
        #expect(imageContext.shape == [1, 64, 32])
        #expect(imageContext.scalars.allSatisfy { $0.isFinite })
    }

    @Test("the tiny UNet builds from the manifest's shapes and gives a finite output")
    func unetRuns() throws {
        let config = try tinyConfig()
        let archive = RandomWeightArchive(manifest: try ParameterManifest(config: config), seed: 6)
        let context = ComputeContext(backend: try ComputeBackends.make(.onednn))
        let unet = try UNet(parameters: ParameterSource(archive: archive, prefix: CheckpointKeys.unet),
                            config: config.params.unetConfig.params, context: context)
        // Tiny config: 4 frames of 8×8 latents, context 77 text + 16·4 image tokens of width 32.
        let x = Tensor(shape: [2, 8, 4, 8, 8], repeating: 0.3)
        let c = Tensor(shape: [2, 77 + 64, 32], repeating: -0.2)
        let out = try unet.callAsFunction(x: x, timesteps: [501, 501], context: c, fs: [3, 3])
        #expect(out.shape == [2, 4, 4, 8, 8])
        #expect(out.scalars.allSatisfy { $0.isFinite })
    }
}
