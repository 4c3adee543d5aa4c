import DynamiCrafterModel
import Foundation
import Weights

/// What a weights file must fit before it is installed: a preset's key manifest, or the one
/// a configuration file (reference YAML or JSON, e.g. the demo model's) implies.
public enum ModelCheck: Sendable {
    case preset(Preset)
    case configFile(String)

    public var presetName: String? {
        if case let .preset(p) = self { return p.name }
        return nil
    }

    func config() throws -> ModelConfig {
        switch self {
        case let .preset(preset): return preset.config
        case let .configFile(path):
            do {
                return try ModelConfig.load(path: path)
            } catch {
                throw ModelStoreError.invalidArgument("\(path): not a usable model configuration: \(error)")
            }
        }
    }

    /// Opens `weights` and compares every key and shape with the manifest; returns the
    /// floating-point dtypes found (for the record). All problems are reported at once.
    func verify(weights: String) throws -> String {
        let manifest: ParameterManifest
        do {
            manifest = try ParameterManifest(config: config())
        } catch let error as ModelStoreError {
            throw error
        } catch {
            throw ModelStoreError.invalidArgument("the configuration is not valid: \(error)")
        }
        let archive: any WeightArchive
        do {
            archive = try WeightFile.open(weights)
        } catch {
            throw ModelStoreError.notThisModel("\(weights) is not a readable checkpoint or safetensors file: \(error)")
        }
        let report = manifest.check(archive)
        guard report.isClean else { throw ModelStoreError.notThisModel(report.description) }
        return Self.dtypes(of: archive)
    }

    /// The floating-point dtypes of the archive's tensors, e.g. "F16" or "F16+F32".
    public static func dtypes(of archive: any WeightArchive) -> String {
        let floats = Set(archive.infos.map(\.info.dtype).filter(\.isFloatingPoint).map(\.rawValue))
        return floats.isEmpty ? "none" : floats.sorted().joined(separator: "+")
    }
}
