import DynamiCrafterModel
import Foundation
import Testing

@Suite struct ConfigTests {
    private func tinyJSON(_ name: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: ManifestFixtures.url("config-\(name).json"))) as! [String: Any]
    }

    /// Edits `model.params` of a tiny config and decodes the result.
    private func decodeEdited(_ name: String = "tiny-512", _ edit: (inout [String: Any]) -> Void) throws -> ModelConfig {
        var root = try tinyJSON(name)
        var model = root["model"] as! [String: Any]
        var params = model["params"] as! [String: Any]
        edit(&params)
        model["params"] = params
        root["model"] = model
        return try ModelConfig.decode(json: JSONSerialization.data(withJSONObject: root))
    }

    private func editUNet(_ params: inout [String: Any], _ key: String, _ value: Any) {
        var unet = params["unet_config"] as! [String: Any]
        var p = unet["params"] as! [String: Any]
        p[key] = value
        unet["params"] = p
        params["unet_config"] = unet
    }

    @Test func tinyConfigsDecode() throws {
        let c256 = try ManifestFixtures.config("config-tiny-256.json")
        #expect(c256.params.parameterization == "eps")
        #expect(c256.params.unetConfig.params.imageCrossAttentionScaleLearnable)
        #expect(c256.params.unetConfig.params.defaultFs == 3)
        #expect(try c256.textEncoderArchitecture().textCfg.width == 32)
        #expect(try c256.imageEncoderArchitecture().visionCfg.tokenCount == 50)
        let c512 = try ManifestFixtures.config("config-tiny-512.json")
        #expect(c512.params.parameterization == "v")
        #expect(c512.params.rescaleBetasZeroSnr && c512.params.useDynamicRescale && c512.params.perframeAe)
        #expect(c512.params.baseScale == 0.7)
        #expect(c512.params.imageProjStageConfig.params.dim == 80)
        #expect(c512.params.unetConfig.params.channelMult == [1, 2, 2])
    }

    @Test func encodeDecodeRoundTrip() throws {
        for preset in Preset.all {
            let again = try ModelConfig.decode(json: preset.config.encodedJSON())
            #expect(again == preset.config, "\(preset.name)")
        }
        let tiny = try ManifestFixtures.config("config-tiny-512.json")
        #expect(try ModelConfig.decode(json: tiny.encodedJSON()) == tiny)
    }

    @Test func unknownOptionsAreRefusedByNameAllAtOnce() throws {
        do {
            _ = try decodeEdited { params in
                params["use_magic"] = true
                editUNet(&params, "flash_attention", true)
            }
            Issue.record("unknown options were accepted")
        } catch let ModelConfigError.unknownOptions(keys) {
            #expect(keys == ["model.params.unet_config.params.flash_attention", "model.params.use_magic"])
        }
        // Nested sections and the OpenCLIP table are checked too.
        var root = try tinyJSON("tiny-256")
        var clip = root["open_clip_model_configs"] as! [String: Any]
        var text = clip["dc-tiny-text"] as! [String: Any]
        var cfg = text["text_cfg"] as! [String: Any]
        cfg["proj_bias"] = true
        text["text_cfg"] = cfg
        clip["dc-tiny-text"] = text
        root["open_clip_model_configs"] = clip
        root["lora"] = 1
        #expect(throws: ModelConfigError.unknownOptions(["lora", "open_clip_model_configs.dc-tiny-text.text_cfg.proj_bias"])) {
            try ModelConfig.decode(json: JSONSerialization.data(withJSONObject: root))
        }
    }

    @Test func unknownOptionErrorNamesTheKey() throws {
        let error = ModelConfigError.unknownOptions(["model.params.foo"])
        #expect(error.description.contains("model.params.foo"))
    }

    @Test func unsupportedValuesAreRefused() throws {
        let cases: [(String, Any, String)] = [
            ("use_relative_position", true, "model.params.unet_config.params.use_relative_position"),
            ("use_causal_attention", true, "model.params.unet_config.params.use_causal_attention"),
            ("temporal_selfatt_only", false, "model.params.unet_config.params.temporal_selfatt_only"),
            ("use_linear", false, "model.params.unet_config.params.use_linear"),
        ]
        for (key, value, option) in cases {
            do {
                _ = try decodeEdited { editUNet(&$0, key, value) }
                Issue.record("\(key) = \(value) was accepted")
            } catch let ModelConfigError.unsupported(o, _, reason) {
                #expect(o == option)
                #expect(!reason.isEmpty)
            }
        }
        do {
            _ = try decodeEdited { $0["conditioning_key"] = "crossattn" }
            Issue.record("conditioning_key crossattn was accepted")
        } catch let ModelConfigError.unsupported(o, v, _) {
            #expect(o == "model.params.conditioning_key" && v == "crossattn")
        }
        #expect(throws: ModelConfigError.self) { try decodeEdited { $0["parameterization"] = "x0" } }
    }

    @Test func unknownArchitectureIsRefused() throws {
        var root = try tinyJSON("tiny-256")
        root.removeValue(forKey: "open_clip_model_configs")
        #expect(throws: ModelConfigError.self) {
            try ModelConfig.decode(json: JSONSerialization.data(withJSONObject: root))
        }
    }

    @Test func missingRequiredOptionIsNamed() throws {
        do {
            _ = try decodeEdited { $0.removeValue(forKey: "unet_config") }
            Issue.record("accepted a config without unet_config")
        } catch let ModelConfigError.invalid(option, _) {
            #expect(option == "model.params.unet_config")
        }
    }

    @Test func presetsFollowReferenceScripts() throws {
        #expect(Preset.names == ["256", "512", "512-interp", "1024"])
        let p256 = Preset.p256, p512 = Preset.p512, interp = Preset.p512Interp, p1024 = Preset.p1024
        #expect((p256.height, p256.width) == (256, 256))
        #expect((p512.height, p512.width) == (320, 512))
        #expect((interp.height, interp.width) == (320, 512))
        #expect((p1024.height, p1024.width) == (576, 1024))
        for p in Preset.all {
            #expect(p.sampling.ddimSteps == 50 && p.sampling.ddimEta == 1.0 && p.sampling.guidanceScale == 7.5)
            #expect(p.sampling.frames == 16)
            #expect(p.config.params.imageSize == [p.height / 8, p.width / 8])
            #expect(p.config.params.unetConfig.params.temporalLength == 16)
        }
        #expect(p256.sampling.frameStride == 3 && p512.sampling.frameStride == 24)
        #expect(interp.sampling.frameStride == 5 && p1024.sampling.frameStride == 10)
        #expect(p256.sampling.timestepSpacing == .uniform && p256.sampling.guidanceRescale == 0 && !p256.sampling.perFrameVAE)
        for p in [p512, interp, p1024] {
            #expect(p.sampling.timestepSpacing == .uniformTrailing && p.sampling.guidanceRescale == 0.7 && p.sampling.perFrameVAE)
            #expect(p.config.params.parameterization == "v" && p.config.params.rescaleBetasZeroSnr)
            #expect(p.config.params.useDynamicRescale)
        }
        #expect(interp.sampling.mode == .interpolation && p512.sampling.mode == .imageToVideo)
        #expect(interp.sampling.seed == 12306 && p256.sampling.seed == 123)
        #expect(interp.config == p512.config && interp.checkpoint != p512.checkpoint)
        #expect(p256.config.params.parameterization == "eps" && !p256.config.params.useDynamicRescale)
        #expect(p256.config.params.unetConfig.params.imageCrossAttentionScaleLearnable)
        #expect(!p512.config.params.unetConfig.params.imageCrossAttentionScaleLearnable)
        #expect(p512.config.params.baseScale == 0.7 && p1024.config.params.baseScale == 0.3)
        #expect(p256.config.params.unetConfig.params.defaultFs == 3)
        #expect(p512.config.params.unetConfig.params.defaultFs == 24)
        #expect(p1024.config.params.unetConfig.params.defaultFs == 10)
        #expect(try p256.config.textEncoderArchitecture() == .vitH14)
        #expect(try p256.config.imageEncoderArchitecture().visionCfg.tokenCount == 257)
    }
}

@Suite struct ConfigReferenceYAMLTests {
    /// config-{256,512,1024}.json are the reference inference YAMLs converted by
    /// scripts/gen_manifest_fixtures.py; the built-in presets must equal them exactly.
    @Test(arguments: [("256", "config-256.json"), ("512", "config-512.json"), ("512-interp", "config-512.json"),
                      ("1024", "config-1024.json")])
    func presetConfigEqualsReferenceYAML(preset: String, file: String) throws {
        let reference = try ManifestFixtures.config(file)
        let p = try #require(Preset.named(preset))
        #expect(p.config == reference)
    }

    @Test func loadPicksTheFormatByExtension() throws {
        let json = try ModelConfig.load(path: ManifestFixtures.url("config-256.json").path)
        #expect(json == Preset.p256.config)
        let yamlPath = try ManifestFixtures.url("config-256.yaml").path
        if ModelConfig.supportsYAML {
            #expect(try ModelConfig.load(path: yamlPath) == Preset.p256.config)
        } else {
            #expect(throws: ModelConfigError.self) { try ModelConfig.load(path: yamlPath) }
        }
    }

    @Test(arguments: ["config-256.yaml", "config-512.yaml", "config-1024.yaml"])
    func referenceYAMLDecodesWhenYAMLIsAvailable(file: String) throws {
        try #require(ModelConfig.supportsYAML, "this build lists Yams, so YAML must be readable")
        let text = try String(contentsOf: ManifestFixtures.url(file), encoding: .utf8)
        let yaml = try ModelConfig.decode(yaml: text)
        let json = try ManifestFixtures.config(file.replacingOccurrences(of: ".yaml", with: ".json"))
        #expect(yaml == json)
    }
}
