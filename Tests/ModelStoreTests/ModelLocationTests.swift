import DiffusionPipeline
import DynamiCrafterModel
import Foundation
import ModelStore
import Testing
import Weights

/// Where a model's weights and configuration are found: folder conventions, the published
/// checkpoints recognised by their keys, and the store's install record naming the preset.
@Suite("model location")
struct ModelLocationTests {
    @Test("published checkpoints are recognised by their keys (sparse full-size files)")
    func presetFromKeys() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("presets-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // The reference's checkpoint folders and this project's models folders name the preset.
        let files = [(Preset.p256, "dynamicrafter_256_v1/model.ckpt", true), (Preset.p512, "512/model.safetensors", false),
                     (Preset.p1024, "dynamicrafter_1024_v1/model.safetensors", false),
                     (Preset.p512Interp, "dynamicrafter_512_interp_v1/model.safetensors", false)]
        for (preset, relative, legacy) in files {
            let path = dir + "/" + relative
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try Self.writeSparseSafetensors(path: path, manifest: ParameterManifest(config: preset.config),
                                            rename: legacy ? { CheckpointKeys.stored($0, naming: .legacyFramestrideEmbed) } : { $0 })
            let located = try ModelLocation.resolve(model: path)
            #expect(located.preset == preset.name, "\(relative)")
            #expect(located.configSource.contains("checkpoint's keys"))
        }
        // 512, 512-interp and 1024 share their keys: without a name in the path, the mode or
        // --config decides, else the error says so.
        let anonymous = dir + "/anonymous.safetensors"
        try Self.writeSparseSafetensors(path: anonymous, manifest: ParameterManifest(config: Preset.p512.config), rename: { $0 })
        #expect(try ModelLocation.resolve(model: anonymous, mode: .interpolation).preset == "512-interp")
        #expect(try ModelLocation.resolve(model: anonymous, mode: PresetConditioningMode(AnimationMode.loop)).preset == "512-interp")
        #expect(try ModelLocation.resolve(model: anonymous, config: "1024").preset == "1024")
        // Installed under a name of the user's choosing: the store's record names the preset.
        try FileManager.default.createDirectory(atPath: dir + "/hd", withIntermediateDirectories: true)
        try FileManager.default.linkItem(atPath: anonymous, toPath: dir + "/hd/model.safetensors")
        try #"{"preset": "1024", "verified": true}"#.write(toFile: dir + "/hd/installed.json", atomically: true, encoding: .utf8)
        #expect(try ModelLocation.resolve(model: dir + "/hd").preset == "1024")
        #expect(try ModelLocation.resolve(model: dir + "/hd/model.safetensors", mode: .interpolation).preset == "1024")
        #expect {
            _ = try ModelLocation.resolve(model: anonymous)
        } throws: { error in
            "\(error)".contains("512, 512-interp, 1024") && "\(error)".contains("--config")
        }
        // A file that matches no preset: the message names the closest and its problems.
        try DemoModel.write(to: dir + "/demo")
        try FileManager.default.removeItem(atPath: dir + "/demo/config.json")
        #expect {
            _ = try ModelLocation.resolve(model: dir + "/demo")
        } throws: { error in
            "\(error)".contains("match none of the presets") && "\(error)".contains("Closest")
        }
        #expect(throws: ModelLocationError.self) { _ = try ModelLocation.resolve(model: dir + "/nothing-here") }
        #expect(throws: ModelLocationError.self) { _ = try ModelLocation.resolve(model: dir + "/512.safetensors", config: "999") }
    }

    /// A safetensors file with every key of `manifest` whose data is a hole: gigabytes on paper,
    /// nothing on disk.
    static func writeSparseSafetensors(path: String, manifest: ParameterManifest, rename: (String) -> String) throws {
        var offset = 0
        var entries: [String] = []
        for entry in manifest.entries {
            let bytes = 4 * entry.shape.reduce(1, *)
            entries.append("\"\(rename(entry.key))\":{\"dtype\":\"F32\",\"shape\":[\(entry.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(offset + bytes)]}")
            offset += bytes
        }
        var header = Array(("{" + entries.joined(separator: ",") + "}").utf8)
        while header.count % 8 != 0 { header.append(0x20) }
        var data = withUnsafeBytes(of: UInt64(header.count).littleEndian, Array.init) + header
        let fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0o644)
        guard fd >= 0 else { throw CocoaError(.fileWriteUnknown) }
        defer { close(fd) }
        guard write(fd, &data, data.count) == data.count, ftruncate(fd, off_t(data.count + offset)) == 0 else {
            throw CocoaError(.fileWriteUnknown)
        }
    }
}
