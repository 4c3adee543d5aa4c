import DiffusionPipeline
import DynamiCrafterModel
import Foundation
import ModelStore
import Synchronization
import Weights

/// The models installed in one directory. Every sub-folder and every `.safetensors`/`.ckpt`
/// file directly inside it that `ModelLocation.resolve` accepts is a model: a folder holding
/// weights and a `config.json` (what `dynamicrafter demo-model` writes), weights with a config
/// file beside them, or a published checkpoint whose keys match a preset (or whose name is a
/// preset's). The directory is scanned on every query, so models can be added while the
/// service runs; what was resolved is remembered per path, size and modification time, so a
/// large checkpoint is examined once.
public final class ModelRegistry: Sendable {
    public let directory: String
    /// The model to use when a request names none (`--model`); nil: the only one installed.
    public let configuredDefault: String?

    private struct CacheKey: Hashable {
        let path: String
        let size: UInt64
        let modified: Double
        let configModified: Double
    }
    private let cache = Mutex<[CacheKey: ModelEntry?]>([:])

    public init(directory: String, defaultModel: String? = nil) {
        self.directory = directory
        configuredDefault = defaultModel.flatMap { $0.isEmpty ? nil : $0 }
    }

    /// Every model found, sorted by name. A folder and a file with the same name: the folder wins.
    public func models() -> [ModelEntry] {
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: directory) else { return [] }
        var found: [String: ModelEntry] = [:]
        for name in names.sorted() where !name.hasPrefix(".") {
            let path = (directory as NSString).appendingPathComponent(name)
            var isDirectory: ObjCBool = false
            guard fm.fileExists(atPath: path, isDirectory: &isDirectory) else { continue }
            let modelName: String
            if isDirectory.boolValue {
                modelName = name
            } else {
                let ext = (name as NSString).pathExtension.lowercased()
                guard ModelLocation.weightExtensions.contains(ext) else { continue }
                modelName = (name as NSString).deletingPathExtension
            }
            if let existing = found[modelName], existing.path.hasSuffix("/" + modelName) { continue }
            if let entry = entry(name: modelName, path: path, isDirectory: isDirectory.boolValue) {
                found[modelName] = entry
            }
        }
        return found.values.sorted { $0.name < $1.name }
    }

    /// The default model's name among `models`: the configured one, else the only one.
    public func defaultName(among models: [ModelEntry]) -> String? {
        if let configuredDefault { return configuredDefault }
        return models.count == 1 ? models[0].name : nil
    }

    /// The model named `name`, or the default when `name` is nil.
    public func entry(named name: String?) throws(ServiceError) -> ModelEntry {
        let all = models()
        let wanted: String
        if let name {
            wanted = name
        } else if let configuredDefault {
            wanted = configuredDefault
        } else if all.count == 1 {
            return all[0]
        } else if all.isEmpty {
            throw ServiceError(.modelNotFound, "no model is installed in \(directory); put a model folder there (for a try: dynamicrafter demo-model \(directory)/demo)")
        } else {
            throw ServiceError(.modelNotFound, "several models are installed (\(all.map(\.name).joined(separator: ", "))) and none is the default: name one with the model option, or start the daemon with --model")
        }
        if let match = all.first(where: { $0.name == wanted }) { return match }
        let installed = all.isEmpty ? "none is installed" : "installed: \(all.map(\.name).joined(separator: ", "))"
        let role = name == nil ? " (the configured default)" : ""
        throw ServiceError(.modelNotFound, "there is no model '\(QuotedInput.quote(wanted))'\(role) in \(directory); \(installed)")
    }

    private func entry(name: String, path: String, isDirectory: Bool) -> ModelEntry? {
        // Cheap identity of what is on disk: the entry itself and (for folders) its config.
        let attributes = try? FileManager.default.attributesOfItem(atPath: path)
        let size = (attributes?[.size] as? NSNumber)?.uint64Value ?? 0
        let modified = (attributes?[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
        var configModified = 0.0
        if isDirectory {
            for file in ModelLocation.configFileNames + ModelLocation.weightExtensions.map({ "model.\($0)" }) {
                let inner = (path as NSString).appendingPathComponent(file)
                if let date = (try? FileManager.default.attributesOfItem(atPath: inner))?[.modificationDate] as? Date {
                    configModified += date.timeIntervalSince1970
                }
            }
        }
        let key = CacheKey(path: path, size: size, modified: modified, configModified: configModified)
        if let cached = cache.withLock({ $0[key] }) { return cached }
        let resolved = Self.resolve(name: name, path: path)
        cache.withLock { cache in
            cache = cache.filter { $0.key.path != path }
            cache[key] = resolved
        }
        return resolved
    }

    private static func resolve(name: String, path: String) -> ModelEntry? {
        let location: ModelLocation
        if let found = try? ModelLocation.resolve(model: path) {
            location = found
        } else if Preset.named(name) != nil, let found = try? ModelLocation.resolve(model: path, config: name) {
            location = found
        } else {
            return nil
        }
        let latent = location.config.params.imageSize
        let factor = 1 << max(location.config.params.firstStageConfig.params.ddconfig.chMult.count - 1, 0)
        let latentHeight = latent.first ?? 0
        let latentWidth = latent.count > 1 ? latent[1] : latentHeight
        let weightsSize = ((try? FileManager.default.attributesOfItem(atPath: location.weightsPath))?[.size] as? NSNumber)?.uint64Value ?? 0
        // What the model store knows of a folder it installed; loose files are unverified.
        let installed = ModelStore(directory: (path as NSString).deletingLastPathComponent).model(named: name)
        let vouched = installed.map { $0.weightsPath == location.weightsPath && $0.verified } ?? false
        let dtype = installed.flatMap { $0.weightsPath == location.weightsPath ? $0.dtype : nil }
            ?? (try? WeightFile.open(location.weightsPath)).map(ModelCheck.dtypes(of:)) ?? "unreadable"
        return ModelEntry(name: name, path: path, location: location,
                          frameWidth: latentWidth * factor, frameHeight: latentHeight * factor, sizeBytes: weightsSize,
                          verified: vouched, dtype: dtype)
    }
}
