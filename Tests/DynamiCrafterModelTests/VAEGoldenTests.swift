import DynamiCrafterModel
import Foundation
import TensorCore
import TensorStorage
import TestingSupport
import Testing
import Weights

/// One tiny VAE golden case of the committed reference set (`ReferenceFixtures`): the case's
/// weights (the VAE reads its `first_stage_model.*` share) and the goldens of its `vae.safetensors`.
struct VAEFixture: Sendable {
    let name: String
    let archive: any WeightArchive
    let goldens: any WeightArchive

    init(_ name: String) throws {
        self.name = name
        archive = try ReferenceFixtures.weights(name)
        goldens = try ReferenceFixtures.golden(name, "vae.safetensors")
    }

    func golden(_ key: String) throws -> Tensor { try goldens.tensor(named: key).toTensor() }

    var parameters: ParameterSource { ParameterSource(archive: archive).scoped("first_stage_model") }

    /// The manifest's first_stage_config of both tiny cases.
    static let configuration = VAE.Configuration(ch: 32, chMult: [1, 1, 2, 2], numResBlocks: 1, zChannels: 4,
                                                 embedDim: 4, resolution: 64, attnResolutions: [])
}

let vaeCases = ["tiny-256", "tiny-512"]
let vaeBackends: [BackendKind] = [.onednn, .openblas]

/// `[b, c, t, h, w]` (b = 1) → `[(b t), c, h, w]`.
func vaeFlattenFrames(_ x: Tensor) throws -> Tensor {
    let s = x.shape
    return try x.permuted([0, 2, 1, 3, 4]).reshaped([s[0] * s[2], s[1], s[3], s[4]])
}

@Suite("VAE (AutoencoderKL) vs goldens")
struct VAEGoldenTests {
    @Test("encoder: enc_out, moments, mean, logvar, std, z (batched and per frame)", arguments: vaeCases, vaeBackends)
    func encoder(caseName: String, backend: BackendKind) throws {
        let f = try VAEFixture(caseName)
        let ctx = ComputeContext(backend: try ComputeBackends.make(backend))
        let vae = try VAE(parameters: f.parameters, configuration: VAEFixture.configuration, context: ctx)
        for perFrame in [false, true] {
        let taps = TapRecorder()
        let label = "\(caseName) \(backend)\(perFrame ? " perframe" : "")"
        let post = try vae.encodeMoments(frames: f.golden("x"), perFrame: perFrame, tap: taps.record)
        if !perFrame {
            expectGoldenClose(try taps.taps["enc_out"].map(Layout.nhwcToNCHW), try f.golden("tap.enc_out"), "\(label) enc_out")
            expectGoldenClose(try taps.taps["moments"].map(Layout.nhwcToNCHW), try f.golden("moments"), "\(label) moments")
        }
        expectGoldenClose(post.mean, try f.golden("mean"), "\(label) mean")
        expectGoldenClose(post.logvar, try f.golden("logvar"), "\(label) logvar")
        expectGoldenClose(post.std, try f.golden("std"), "\(label) std")
        let z = try vae.sample(mean: post.mean, std: post.std, noise: f.golden("noise"))
        expectGoldenClose(z, try vaeFlattenFrames(f.golden("z")), "\(label) z")
        let z2 = try vae.encode(frames: f.golden("x"), noise: f.golden("noise"), perFrame: perFrame)
        expectGoldenClose(z2, try vaeFlattenFrames(f.golden("z")), "\(label) encode z")
        }
    }

    @Test("decoder: post_quant, dec_mid, dec (batched and per frame)", arguments: vaeCases, vaeBackends)
    func decoder(caseName: String, backend: BackendKind) throws {
        let f = try VAEFixture(caseName)
        let ctx = ComputeContext(backend: try ComputeBackends.make(backend))
        let vae = try VAE(parameters: f.parameters, configuration: VAEFixture.configuration, context: ctx)
        for perFrame in [false, true] {
        let taps = TapRecorder()
        let label = "\(caseName) \(backend)\(perFrame ? " perframe" : "")"
        let out = try vae.decode(scaledLatent: vaeFlattenFrames(f.golden("z")), perFrame: perFrame, tap: taps.record)
        if !perFrame {
            expectGoldenClose(try taps.taps["post_quant"].map(Layout.nhwcToNCHW), try f.golden("tap.post_quant"), "\(label) post_quant")
            expectGoldenClose(try taps.taps["dec_mid"].map(Layout.nhwcToNCHW), try f.golden("tap.dec_mid"), "\(label) dec_mid")
        }
        expectGoldenClose(out, try vaeFlattenFrames(f.golden("dec")), "\(label) dec")
        }
        let unscaled = try Kernels.scaled(vaeFlattenFrames(f.golden("z")), by: 1 / 0.18215)
        expectGoldenClose(try vae.decode(unscaledLatent: unscaled), try vaeFlattenFrames(f.golden("dec")), "\(caseName) \(backend) decode unscaled")
    }

    @Test("the configuration bridges from the manifest's first_stage_config")
    func configurationFromConfig() throws {
        for name in ["config-tiny-256.json", "config-tiny-512.json"] {
            let config = try ManifestFixtures.config(name)
            let bridged = VAE.Configuration(config.params.firstStageConfig.params, scaleFactor: config.params.scaleFactor)
            #expect(bridged == VAEFixture.configuration)
        }
        let c = VAE.Configuration()
        #expect(c.ch == 128 && c.chMult == [1, 2, 4, 4] && c.numResBlocks == 2 && c.downsampleFactor == 8)
    }

    @Test("a wrong-shaped weight is a ModelLoadError naming the key")
    func wrongShape() throws {
        let f = try VAEFixture("tiny-256")
        let ctx = ComputeContext(backend: try ComputeBackends.make(.openblas))
        let key = "first_stage_model.decoder.up.2.block.1.conv1.weight"
        let altered = CLIPAlteredArchive(base: f.archive, reshaped: [key: [64, 64, 9]])
        #expect(throws: ModelLoadError.shapeMismatch(key: key, expected: [64, 64, 3, 3], found: [64, 64, 9], file: f.archive.path)) {
            _ = try VAE(parameters: ParameterSource(archive: altered).scoped("first_stage_model"),
                        configuration: VAEFixture.configuration, context: ctx)
        }
        let missingKey = "first_stage_model.encoder.mid.attn_1.q.bias"
        let hidden = CLIPAlteredArchive(base: f.archive, hidden: [missingKey])
        #expect(throws: ModelLoadError.missing(key: missingKey, expected: [64], file: f.archive.path)) {
            _ = try VAE(parameters: ParameterSource(archive: hidden).scoped("first_stage_model"),
                        configuration: VAEFixture.configuration, context: ctx)
        }
    }
}
