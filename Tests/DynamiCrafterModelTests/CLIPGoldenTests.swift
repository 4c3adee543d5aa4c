import DynamiCrafterModel
import TensorCore
import TensorStorage
import Testing
import Weights

/// The CLIP text tower, the CLIP vision tower and the Resampler against the reference goldens of
/// the tiny cases, at every tap, on the oneDNN and OpenBLAS backends (fp32).
@Suite("CLIP towers and Resampler vs goldens")
struct CLIPGoldenTests {
    @Test("text encoder: embed, blocks, ln_final", arguments: clipCases, clipBackends)
    func textEncoder(caseName: String, backend: BackendKind) throws {
        let f = try CLIPFixture(caseName)
        let ctx = ComputeContext(backend: try ComputeBackends.make(backend))
        let config = try f.textConfiguration()
        #expect(config.layersRun == 2)
        let encoder = try CLIPTextEncoder(parameters: f.parameters.scoped("cond_stage_model").scoped("model"),
                                          configuration: config, context: ctx)
        let taps = TapRecorder()
        let out = try encoder.encode(tokens: f.textIDs(), tap: taps.record)
        let label = "\(caseName) \(backend) text"
        expectGoldenClose(taps.taps["embed"], try f.tensor("text.tap.embed"), "\(label) embed")
        for i in 0..<config.layersRun {
            expectGoldenClose(taps.taps["block\(i)"], try f.tensor("text.tap.block\(i)"), "\(label) block\(i)")
        }
        expectGoldenClose(out, try f.tensor("text.out"), "\(label) out")
    }

    @Test("vision tower: clip_in → ln_pre, blocks, tokens", arguments: clipCases, clipBackends)
    func visionTower(caseName: String, backend: BackendKind) throws {
        let f = try CLIPFixture(caseName)
        let ctx = ComputeContext(backend: try ComputeBackends.make(backend))
        let encoder = try CLIPVisionEncoder(parameters: f.parameters.scoped("embedder.model.visual"),
                                            configuration: f.visionConfiguration, context: ctx)
        let taps = TapRecorder()
        let tokens = try encoder.encode(f.tensor("image.clip_in"), tap: taps.record)
        let label = "\(caseName) \(backend) vision"
        expectGoldenClose(taps.taps["ln_pre"], try f.tensor("image.tap.ln_pre"), "\(label) ln_pre")
        for i in 0..<2 {
            expectGoldenClose(taps.taps["block\(i)"], try f.tensor("image.tap.block\(i)"), "\(label) block\(i)")
        }
        expectGoldenClose(tokens, try f.tensor("image.tokens"), "\(label) tokens")

        // The unconditional image: a mid-grey (zero) image preprocesses to one value per channel.
        let perChannel = try f.tensor("image.zero.clip_in_per_channel").scalars
        let plane = 224 * 224
        let zeroIn = Tensor(shape: [1, 3, 224, 224]) { p in
            for c in 0..<3 { for i in 0..<plane { p[c * plane + i] = perChannel[c] } }
        }
        expectGoldenClose(try encoder.encode(zeroIn), try f.tensor("image.zero.tokens"), "\(label) zero-image tokens")
    }

    @Test("Resampler: tokens → proj_in, layers, proj_out, img_emb", arguments: clipCases, clipBackends)
    func resampler(caseName: String, backend: BackendKind) throws {
        let f = try CLIPFixture(caseName)
        let ctx = ComputeContext(backend: try ComputeBackends.make(backend))
        let config = f.resamplerConfiguration
        let resampler = try Resampler(parameters: f.parameters.scoped("image_proj_model"), configuration: config, context: ctx)
        let taps = TapRecorder()
        let emb = try resampler(f.tensor("image.tokens"), tap: taps.record)
        let label = "\(caseName) \(backend) resampler"
        expectGoldenClose(taps.taps["proj_in"], try f.tensor("image.tap.res.proj_in"), "\(label) proj_in")
        for i in 0..<config.depth {
            expectGoldenClose(taps.taps["layer\(i).attn"], try f.tensor("image.tap.res.layer\(i).attn"), "\(label) layer\(i).attn")
            expectGoldenClose(taps.taps["layer\(i).ff"], try f.tensor("image.tap.res.layer\(i).ff"), "\(label) layer\(i).ff")
        }
        expectGoldenClose(taps.taps["proj_out"], try f.tensor("image.tap.res.proj_out"), "\(label) proj_out")
        expectGoldenClose(emb, try f.tensor("image.img_emb"), "\(label) img_emb")
        #expect(emb.shape == [1, config.latentCount, config.outputDim])

        expectGoldenClose(try resampler(f.tensor("image.zero.tokens")), try f.tensor("image.zero.img_emb"),
                    "\(label) zero-image img_emb")
    }

    @Test("vision tower and Resampler on a batch of two images", arguments: clipCases)
    func batchOfTwo(caseName: String) throws {
        let f = try CLIPFixture(caseName)
        let ctx = ComputeContext(backend: try ComputeBackends.make(.onednn))
        let vit = try CLIPVisionEncoder(parameters: f.parameters.scoped("embedder.model.visual"),
                                        configuration: f.visionConfiguration, context: ctx)
        let resampler = try Resampler(parameters: f.parameters.scoped("image_proj_model"),
                                      configuration: f.resamplerConfiguration, context: ctx)
        let perChannel = try f.tensor("image.zero.clip_in_per_channel").scalars
        let plane = 224 * 224
        let zeroIn = Tensor(shape: [1, 3, 224, 224]) { p in
            for c in 0..<3 { for i in 0..<plane { p[c * plane + i] = perChannel[c] } }
        }
        let both = try Tensor.concatenated([f.tensor("image.clip_in"), zeroIn], along: 0)
        let tokens = try vit.encode(both)
        #expect(tokens.shape == [2, 50, 64])
        expectGoldenClose(try tokens.sliced(along: 0, range: 0..<1), try f.tensor("image.tokens"), "\(caseName) batch tokens[0]")
        expectGoldenClose(try tokens.sliced(along: 0, range: 1..<2), try f.tensor("image.zero.tokens"), "\(caseName) batch tokens[1]")
        let emb = try resampler(tokens)
        expectGoldenClose(try emb.sliced(along: 0, range: 0..<1), try f.tensor("image.img_emb"), "\(caseName) batch img_emb[0]")
        expectGoldenClose(try emb.sliced(along: 0, range: 1..<2), try f.tensor("image.zero.img_emb"), "\(caseName) batch img_emb[1]")
    }

    @Test("vision tower + Resampler chained: clip_in → img_emb", arguments: clipCases)
    func imageChain(caseName: String) throws {
        let f = try CLIPFixture(caseName)
        let ctx = ComputeContext(backend: try ComputeBackends.make(.onednn))
        let vit = try CLIPVisionEncoder(parameters: f.parameters.scoped("embedder.model.visual"),
                                        configuration: f.visionConfiguration, context: ctx)
        let resampler = try Resampler(parameters: f.parameters.scoped("image_proj_model"),
                                      configuration: f.resamplerConfiguration, context: ctx)
        let emb = try resampler(vit.encode(f.tensor("image.clip_in")))
        expectGoldenClose(emb, try f.tensor("image.img_emb"), "\(caseName) chained img_emb")
    }

    @Test("half-precision weights and bf16 compute stay near the goldens", arguments: clipCases)
    func reducedPrecision(caseName: String) throws {
        let f = try CLIPFixture(caseName)
        // Every text-tower weight stored as f16 (the token embedding is converted row by row).
        let halfNames = Set(f.archive.names.filter { $0.hasPrefix("cond_stage_model.") })
        let half = CLIPAlteredArchive(base: f.archive, half: halfNames)
        let f32 = ComputeContext(backend: try ComputeBackends.make(.onednn))
        let text = try CLIPTextEncoder(parameters: ParameterSource(archive: half).scoped("cond_stage_model.model"),
                                       configuration: f.textConfiguration(), context: f32)
        let taps = TapRecorder()
        let out = try text.encode(tokens: f.textIDs(), tap: taps.record)
        let embedError = clipRelativeError(try #require(taps.taps["embed"]), try f.tensor("text.tap.embed"))
        #expect(embedError > 0 && embedError < 2e-3, "f16 embedding error \(embedError)")
        // f16 keeps 11 bits (~5e-4 per weight); two blocks and ln_final gave 1.6e-3 here, so 5e-3.
        expectGoldenClose(out, try f.tensor("text.out"), "\(caseName) f16-weights text out", tolerance: 5e-3)

        // bf16 keeps 8 bits (~4e-3 per operand, ~2.5e-3 per matmul); measured 5e-3 (tokens),
        // 8e-3 (text) and 1.1e-2 (img_emb, two towers deep), so 2e-2: an fp32 bug shows as O(1).
        let bf16 = ComputeContext(backend: try ComputeBackends.make(.onednn), precision: .bf16)
        let textBF16 = try CLIPTextEncoder(parameters: f.parameters.scoped("cond_stage_model.model"),
                                           configuration: f.textConfiguration(), context: bf16)
        expectGoldenClose(try textBF16.encode(tokens: f.textIDs()), try f.tensor("text.out"), "\(caseName) bf16 text out", tolerance: 2e-2)
        let vit = try CLIPVisionEncoder(parameters: f.parameters.scoped("embedder.model.visual"),
                                        configuration: f.visionConfiguration, context: bf16)
        let resampler = try Resampler(parameters: f.parameters.scoped("image_proj_model"),
                                      configuration: f.resamplerConfiguration, context: bf16)
        let tokens = try vit.encode(f.tensor("image.clip_in"))
        expectGoldenClose(tokens, try f.tensor("image.tokens"), "\(caseName) bf16 tokens", tolerance: 2e-2)
        expectGoldenClose(try resampler(tokens), try f.tensor("image.img_emb"), "\(caseName) bf16 img_emb", tolerance: 2e-2)
    }
}
