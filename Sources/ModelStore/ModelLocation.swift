import DynamiCrafterModel
import Foundation
import Weights

/// Which weights file to load and with which configuration and sampling defaults.
///
/// Store knowledge, not a pipeline concept: the pipeline loads a weights file with a
/// `ModelConfig` (`AnimationModel.load(path:config:)`) and samples with `SamplingDefaults`, plain
/// values that need no type of their own there. Finding them — the folder conventions, the
/// presets recognised by their keys, the store's install record — is what this type does, beside
/// the store that writes those folders.
///
/// A model is named by its weights file (`.ckpt` or `.safetensors`) or by a folder holding one
/// (what `dynamicrafter demo-model` writes). The configuration comes, in this order, from an
/// explicit preset name or configuration file, a `config.json`/`config.yaml` (or
/// `<weights name>.json`/`.yaml`) beside the weights, or — for the published checkpoints — from
/// the preset whose key manifest the file matches exactly.
public struct ModelLocation: Sendable {
    public let weightsPath: String
    public let config: ModelConfig
    public let defaults: SamplingDefaults
    /// The preset used, nil for a configuration file.
    public let preset: String?
    /// Where the configuration came from, for messages ("preset 256 (from the checkpoint's keys)").
    public let configSource: String

    public static let configFileNames = ["config.json", "config.yaml", "config.yml"]
    public static let weightExtensions = ["safetensors", "ckpt"]

    /// Of the weight files in a folder, the one a model folder is loaded from: `model.safetensors`
    /// (a converted copy) before `model.ckpt`, else the only one; nil when that leaves a choice.
    public static func preferredWeights(among names: [String]) -> String? {
        names.first { $0 == "model.safetensors" } ?? names.first { $0 == "model.ckpt" } ?? (names.count == 1 ? names[0] : nil)
    }

    /// Resolves `model` (weights file or folder) and `config` (preset name, file, or nil).
    /// `mode` breaks the tie between the 512 and 512-interp checkpoints, which have the same keys
    /// (the model's conditioning mode rather than the pipeline's `AnimationMode`: the store does
    /// not depend on the pipeline).
    public static func resolve(model: String, config: String? = nil, mode: PresetConditioningMode? = nil) throws -> ModelLocation {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: model, isDirectory: &isDirectory) else {
            throw ModelLocationError("\(model): no such file or folder")
        }
        let weights: String
        let folder: String
        if isDirectory.boolValue {
            folder = model
            let entries = ((try? fm.contentsOfDirectory(atPath: model)) ?? []).sorted()
            let candidates = entries.filter { name in weightExtensions.contains((name as NSString).pathExtension.lowercased()) && !name.hasPrefix(".") }
            if let preferred = preferredWeights(among: candidates) {
                weights = (model as NSString).appendingPathComponent(preferred)
            } else if candidates.isEmpty {
                throw ModelLocationError("\(model): the folder holds no .safetensors or .ckpt file")
            } else {
                throw ModelLocationError("\(model): the folder holds several weight files (\(candidates.joined(separator: ", "))); name one")
            }
        } else {
            weights = model
            folder = (model as NSString).deletingLastPathComponent.isEmpty ? "." : (model as NSString).deletingLastPathComponent
        }

        if let config {
            if let preset = Preset.named(config) {
                return ModelLocation(weightsPath: weights, config: preset.config, defaults: preset.sampling,
                                     preset: preset.name, configSource: "preset \(preset.name)")
            }
            guard fm.fileExists(atPath: config) else {
                throw ModelLocationError("--config \(config): neither a preset (\(Preset.names.joined(separator: ", "))) nor a file")
            }
            let decoded = try ModelConfig.load(path: config)
            return ModelLocation(weightsPath: weights, config: decoded, defaults: .inferred(from: decoded), preset: nil,
                                 configSource: config)
        }
        let stem = ((weights as NSString).lastPathComponent as NSString).deletingPathExtension
        let siblings = configFileNames + ["\(stem).json", "\(stem).yaml", "\(stem).yml"]
        for name in siblings {
            let path = (folder as NSString).appendingPathComponent(name)
            if fm.fileExists(atPath: path) {
                let decoded = try ModelConfig.load(path: path)
                return ModelLocation(weightsPath: weights, config: decoded, defaults: .inferred(from: decoded), preset: nil,
                                     configSource: path)
            }
        }
        // A published checkpoint: the preset whose manifest the keys match exactly.
        let archive = try WeightFile.open(weights)
        var matching: [Preset] = []
        var closest: (preset: Preset, report: ManifestReport)?
        for preset in Preset.all {
            let report = try ParameterManifest(config: preset.config).check(archive)
            if report.isClean { matching.append(preset) }
            if closest == nil || report.problemCount < closest!.report.problemCount { closest = (preset, report) }
        }
        let chosen = matching.count > 1 ? try disambiguate(matching, path: weights, mode: mode) : matching.first
        guard let chosen else {
            var message = "\(weights): no configuration beside it and its keys match none of the presets "
                + "(\(Preset.names.joined(separator: ", "))); pass --config PRESET|FILE"
            if let closest {
                message += ". Closest: preset \(closest.preset.name) with \(closest.report.problemCount) problem(s):\n\(closest.report)"
            }
            throw ModelLocationError(message)
        }
        return ModelLocation(weightsPath: weights, config: chosen.config, defaults: chosen.sampling, preset: chosen.name,
                             configSource: "preset \(chosen.name) (from the checkpoint's keys)")
    }
}

extension ModelLocation {
    /// The 512, 512-interp and 1024 checkpoints have identical keys and shapes (the UNet is
    /// convolutional; only the sampling differs). The models folder's install record decides
    /// first, then the path when it names one — the reference's
    /// `checkpoints/dynamicrafter_1024_v1/model.ckpt`, the models folder's `1024/model.ckpt` —
    /// else the mode (interpolate and loop mean 512-interp).
    static func disambiguate(_ candidates: [Preset], path: String, mode: PresetConditioningMode?) throws -> Preset {
        // `dynamicrafter models fetch|add` records the preset it checked the file against.
        if let recorded = InstallRecord.recordedPreset(beside: path), let preset = candidates.first(where: { $0.name == recorded }) {
            return preset
        }
        let lowered = path.lowercased()
        let components = lowered.split(separator: "/").map(String.init)
        func mentions(_ preset: Preset) -> Bool {
            let name = preset.name
            let spellings = [name, name.replacingOccurrences(of: "-", with: "_")]
            return components.contains { component in
                spellings.contains { spelling in
                    component == spelling || component.hasPrefix(spelling + "_") || component.hasPrefix(spelling + ".")
                        || component.contains("_" + spelling + "_") || component.hasSuffix("_" + spelling)
                        || component.contains("-" + spelling)
                }
            }
        }
        // Longest names first so "512-interp" wins over "512".
        for preset in candidates.sorted(by: { $0.name.count > $1.name.count }) where mentions(preset) {
            return preset
        }
        if let mode, mode != .imageToVideo, let interp = candidates.first(where: { $0.sampling.mode != .imageToVideo }) {
            return interp
        }
        throw ModelLocationError("\(path): the checkpoint's keys fit the presets \(candidates.map(\.name).joined(separator: ", ")) "
            + "equally (they differ only in how they are sampled); pass --config with one of them, or keep it in a folder named after its preset")
    }
}
