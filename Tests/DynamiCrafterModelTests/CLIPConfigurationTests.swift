import DynamiCrafterModel
import Foundation
import TensorCore
import Testing

/// The block configurations agree with the configuration file's sections.
@Suite("CLIP and Resampler configurations")
struct CLIPConfigurationTests {
    @Test func realPresetsMatchOpenCLIPViTH14() {
        #expect(CLIPTextEncoder.Configuration(OpenCLIPModelConfig.vitH14.textCfg) == .vitH14)
        #expect(CLIPVisionEncoder.Configuration(OpenCLIPModelConfig.vitH14.visionCfg) == .vitH14)
        #expect(CLIPTextEncoder.Configuration.vitH14.layersRun == 23)
        #expect(CLIPVisionEncoder.Configuration.vitH14.tokenCount == 257)
        #expect(CLIPVisionEncoder.Configuration.vitH14.heads == 16)
    }

    @Test func tinyConfigurationsFromTheManifestSections() throws {
        let json = Data(#"{"embed_dim": 64, "vision_cfg": {"image_size": 224, "layers": 2, "width": 64, "head_width": 16, "patch_size": 32}, "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 3}}"#.utf8)
        let clip = try JSONDecoder().decode(OpenCLIPModelConfig.self, from: json)
        let f = try CLIPFixture("tiny-256")
        #expect(CLIPVisionEncoder.Configuration(clip.visionCfg) == f.visionConfiguration)
        var text = try f.textConfiguration()
        text.vocabSize = 49408   // the fixture's vocabulary is cut down to the rows its prompts use
        #expect(CLIPTextEncoder.Configuration(clip.textCfg) == text)

        for name in clipCases {
            let f = try CLIPFixture(name)
            let c = f.resamplerConfiguration
            let params = try JSONDecoder().decode(ResamplerParams.self, from: Data(#"{"dim": \#(c.dim), "depth": 2, "dim_head": 16, "heads": \#(c.heads), "num_queries": 16, "embedding_dim": 64, "output_dim": 32, "ff_mult": 4, "video_length": 4}"#.utf8))
            #expect(Resampler.Configuration(params) == c)
            #expect(Resampler.Configuration(params).latentCount == params.latentCount)
        }
        #expect(Resampler.Configuration.dynamiCrafter.latentCount == 256)
    }
}
