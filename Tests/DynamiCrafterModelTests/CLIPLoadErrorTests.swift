import DynamiCrafterModel
import TensorCore
import TensorStorage
import Testing
import Weights

/// A checkpoint that does not fit reports the offending key.
@Suite("CLIP and Resampler load errors")
struct CLIPLoadErrorTests {
    let ctx: ComputeContext

    init() throws { ctx = ComputeContext(backend: try ComputeBackends.make(.reference)) }

    @Test func missingTextWeightNamesTheKey() throws {
        let f = try CLIPFixture("tiny-256")
        let key = "cond_stage_model.model.transformer.resblocks.1.attn.in_proj_weight"
        let altered = CLIPAlteredArchive(base: f.archive, hidden: [key])
        let error = #expect(throws: ModelLoadError.self) {
            try CLIPTextEncoder(parameters: ParameterSource(archive: altered).scoped("cond_stage_model.model"),
                                configuration: try f.textConfiguration(), context: ctx)
        }
        guard case .missing(let k, let expected, _) = error else {
            Issue.record("expected .missing, got \(String(describing: error))"); return
        }
        #expect(k == key)
        #expect(expected == [96, 32])
        #expect(error?.description.contains(key) == true)
    }

    @Test func wrongShapedVisionWeightNamesTheKey() throws {
        let f = try CLIPFixture("tiny-256")
        let key = "embedder.model.visual.positional_embedding"
        let altered = CLIPAlteredArchive(base: f.archive, reshaped: [key: [64, 50]])
        let error = #expect(throws: ModelLoadError.self) {
            try CLIPVisionEncoder(parameters: ParameterSource(archive: altered).scoped("embedder.model.visual"),
                                  configuration: f.visionConfiguration, context: ctx)
        }
        #expect(error == .shapeMismatch(key: key, expected: [50, 64], found: [64, 50], file: altered.path))
    }

    @Test func wrongConfigurationNamesTheKey() throws {
        // The tiny-512 Resampler (dim 80) loaded with the tiny-256 configuration (dim 64).
        let f256 = try CLIPFixture("tiny-256"), f512 = try CLIPFixture("tiny-512")
        let error = #expect(throws: ModelLoadError.self) {
            try Resampler(parameters: f512.parameters.scoped("image_proj_model"),
                          configuration: f256.resamplerConfiguration, context: ctx)
        }
        #expect(error == .shapeMismatch(key: "image_proj_model.latents", expected: [1, 64, 64], found: [1, 64, 80],
                                        file: f512.archive.path))
    }

    @Test func missingResamplerWeightNamesTheKey() throws {
        let f = try CLIPFixture("tiny-512")
        let key = "image_proj_model.layers.1.1.3.weight"
        let altered = CLIPAlteredArchive(base: f.archive, hidden: [key])
        let error = #expect(throws: ModelLoadError.self) {
            try Resampler(parameters: ParameterSource(archive: altered).scoped("image_proj_model"),
                          configuration: f.resamplerConfiguration, context: ctx)
        }
        #expect(error == .missing(key: key, expected: [80, 320], file: altered.path))
    }

    @Test func textTokensOutsideTheVocabularyAreRejected() throws {
        let f = try CLIPFixture("tiny-256")
        let config = try f.textConfiguration()
        let encoder = try CLIPTextEncoder(parameters: f.parameters.scoped("cond_stage_model.model"),
                                          configuration: config, context: ctx)
        var ids = try f.textIDs()
        ids[0][3] = Int32(config.vocabSize)
        #expect(throws: TensorError.self) { try encoder.encode(tokens: ids) }
        #expect(throws: TensorError.self) { try encoder.encode(tokens: [[1, 2, 3]]) }
    }
}
