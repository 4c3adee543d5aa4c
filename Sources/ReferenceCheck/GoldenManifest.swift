import DynamiCrafterModel
import Foundation
import Weights

/// `manifest.json` of a golden-tensor directory (the format of `shared/reference/golden`):
/// cases (one per tiny model) with their model configuration, weights and golden files.
public struct GoldenManifest: Sendable {
    /// One golden file: its tensors (name → shape, dtype) and the run parameters it records.
    public struct File: Sendable {
        public let name: String
        public let path: String
        public let tensors: [String: (shape: [Int], dtype: String)]
        /// `prompts` (text encoder), `prompt` (sampling).
        public let prompts: [String]
        public let inferenceArguments: [String: JSONScalar]
        public let perframeAE: Bool?
    }

    public struct Case: Sendable {
        public let name: String
        public let directory: String
        public let config: ModelConfig
        public let files: [File]
        /// `weights.safetensors`, or the parts `weights-part*.safetensors` of a trimmed copy.
        public let weightPaths: [String]
    }

    /// A JSON scalar of `inference_args`.
    public enum JSONScalar: Sendable, Equatable {
        // JSON booleans arrive as numbers 0/1 (NSNumber); `flag` reads either.
        case number(Double), bool(Bool), string(String), null
    }

    public let directory: String
    public let cases: [Case]

    public static func load(directory: String) throws -> GoldenManifest {
        let manifestPath = (directory as NSString).appendingPathComponent("manifest.json")
        guard let data = FileManager.default.contents(atPath: manifestPath) else {
            throw ReferenceCheckError.manifest(manifestPath, "cannot read the file")
        }
        let root: [String: Any]
        do {
            guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                throw ReferenceCheckError.manifest(manifestPath, "the top level is not an object")
            }
            root = object
        } catch let error as ReferenceCheckError {
            throw error
        } catch {
            throw ReferenceCheckError.manifest(manifestPath, "not valid JSON (\(error.localizedDescription))")
        }
        guard let casesObject = root["cases"] as? [String: Any], !casesObject.isEmpty else {
            throw ReferenceCheckError.manifest(manifestPath, "no \"cases\" object")
        }
        var cases: [Case] = []
        for name in casesObject.keys.sorted() {
            guard let c = casesObject[name] as? [String: Any] else {
                throw ReferenceCheckError.manifest(manifestPath, "case \(name) is not an object")
            }
            cases.append(try parseCase(name, c, root: directory, manifestPath: manifestPath))
        }
        return GoldenManifest(directory: directory, cases: cases)
    }

    private static func parseCase(_ name: String, _ c: [String: Any], root: String, manifestPath: String) throws -> Case {
        let sub = (c["directory"] as? String) ?? name
        let dir = (root as NSString).appendingPathComponent(sub)
        guard let modelConfig = c["model_config"] as? [String: Any] else {
            throw ReferenceCheckError.manifest(manifestPath, "case \(name) has no model_config")
        }
        var configObject = modelConfig
        if let clip = c["open_clip_model_configs"] { configObject["open_clip_model_configs"] = clip }
        let config: ModelConfig
        do {
            config = try ModelConfig.decode(json: JSONSerialization.data(withJSONObject: configObject))
        } catch {
            throw ReferenceCheckError.manifest(manifestPath, "case \(name): \(error)")
        }
        guard let filesObject = c["files"] as? [String: Any] else {
            throw ReferenceCheckError.manifest(manifestPath, "case \(name) has no files")
        }
        var files: [File] = []
        for fileName in filesObject.keys.sorted() {
            guard let f = filesObject[fileName] as? [String: Any] else { continue }
            var tensors: [String: (shape: [Int], dtype: String)] = [:]
            for (tensorName, spec) in (f["tensors"] as? [String: Any]) ?? [:] {
                guard let s = spec as? [String: Any], let shape = s["shape"] as? [Int] else { continue }
                tensors[tensorName] = (shape, (s["dtype"] as? String) ?? "float32")
            }
            var prompts = (f["prompts"] as? [String]) ?? []
            if let p = f["prompt"] as? String { prompts = [p] }
            var arguments: [String: JSONScalar] = [:]
            for (k, v) in (f["inference_args"] as? [String: Any]) ?? [:] {
                switch v {
                case let n as NSNumber: arguments[k] = .number(n.doubleValue)
                case let s as String: arguments[k] = .string(s)
                default: arguments[k] = .null
                }
            }
            files.append(File(name: fileName, path: (dir as NSString).appendingPathComponent(fileName), tensors: tensors,
                              prompts: prompts, inferenceArguments: arguments, perframeAE: f["perframe_ae"] as? Bool))
        }
        return Case(name: name, directory: dir, config: config, files: files, weightPaths: try weightPaths(in: dir))
    }

    static func weightPaths(in dir: String) throws -> [String] {
        let single = (dir as NSString).appendingPathComponent("weights.safetensors")
        if FileManager.default.fileExists(atPath: single) { return [single] }
        let parts = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [])
            .filter { $0.hasPrefix("weights-part") && $0.hasSuffix(".safetensors") }
            .sorted { $0.compare($1, options: .numeric) == .orderedAscending }
        return parts.map { (dir as NSString).appendingPathComponent($0) }
    }
}

extension GoldenManifest.File {
    func number(_ key: String) -> Double? {
        if case .number(let v)? = inferenceArguments[key] { return v }
        return nil
    }

    func flag(_ key: String) -> Bool {
        switch inferenceArguments[key] {
        case .bool(let b)?: return b
        case .number(let v)?: return v != 0
        default: return false
        }
    }

    func string(_ key: String) -> String? {
        if case .string(let s)? = inferenceArguments[key] { return s }
        return nil
    }
}
