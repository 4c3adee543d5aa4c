import DynamiCrafterModel
import Foundation

/// Where the published checkpoints live: `<base>/<repository>/resolve/main/model.ckpt`, with
/// base `--base-url`, else `HF_ENDPOINT` (Hugging Face mirrors use it too), else huggingface.co.
public enum ModelSource {
    public static let defaultBaseURL = "https://huggingface.co"

    public static let repositories: [String: String] = [
        "256": "Doubiiu/DynamiCrafter",
        "512": "Doubiiu/DynamiCrafter_512",
        "512-interp": "Doubiiu/DynamiCrafter_512_Interp",
        "1024": "Doubiiu/DynamiCrafter_1024",
    ]

    public static func repository(forPreset preset: String) -> String? { repositories[preset] }

    /// The base URL in effect: the explicit one, else `HF_ENDPOINT`, else Hugging Face.
    public static func baseURL(explicit: String?, environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let explicit, !explicit.isEmpty { return explicit }
        if let endpoint = environment["HF_ENDPOINT"], !endpoint.isEmpty { return endpoint }
        return defaultBaseURL
    }

    /// The checkpoint's URL for a preset.
    public static func url(preset: String, baseURL: String) throws -> URL {
        guard let repository = repository(forPreset: preset) else {
            throw ModelStoreError.invalidArgument("unknown preset '\(preset)' (one of \(Preset.names.joined(separator: ", ")))")
        }
        var base = baseURL
        while base.hasSuffix("/") { base.removeLast() }
        guard let url = URL(string: "\(base)/\(repository)/resolve/main/model.ckpt"), let scheme = url.scheme?.lowercased(),
              scheme == "https" || scheme == "http", url.host != nil else {
            throw ModelStoreError.invalidArgument("'\(baseURL)' is not an http(s) base URL")
        }
        return url
    }
}
