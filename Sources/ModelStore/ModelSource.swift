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

    /// The Hugging Face token, found where `huggingface_hub` looks: `HF_TOKEN`, else the file
    /// `HF_TOKEN_PATH`, else `$HF_HOME/token` (`HF_HOME` defaulting to
    /// `$XDG_CACHE_HOME/huggingface`, then `~/.cache/huggingface`), which `huggingface-cli login`
    /// writes. The published DynamiCrafter repositories need none; gated mirrors may.
    public static func token(environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        func clean(_ text: String?) -> String? {
            guard let text = text?.trimmingCharacters(in: .whitespacesAndNewlines), !text.isEmpty else { return nil }
            return text
        }
        if let token = clean(environment["HF_TOKEN"]) { return token }
        let path: String
        if let explicit = clean(environment["HF_TOKEN_PATH"]) {
            path = explicit
        } else if let home = clean(environment["HF_HOME"]) {
            path = (home as NSString).appendingPathComponent("token")
        } else if let cache = clean(environment["XDG_CACHE_HOME"]), cache.hasPrefix("/") {
            path = (cache as NSString).appendingPathComponent("huggingface/token")
        } else {
            let home = clean(environment["HOME"]) ?? NSHomeDirectory()
            path = (home as NSString).appendingPathComponent(".cache/huggingface/token")
        }
        guard let data = FileManager.default.contents(atPath: path), data.count <= 4096 else { return nil }
        return clean(String(decoding: data, as: UTF8.self))
    }

    /// The token, for requests to the hub at `baseURL` only (never to another host a download
    /// redirects to, nor to a `--url` elsewhere).
    public static func credentials(baseURL: String, environment: [String: String] = ProcessInfo.processInfo.environment)
        -> Downloader.Credentials? {
        guard let token = token(environment: environment), let origin = URL(string: baseURL), origin.host != nil else { return nil }
        return Downloader.Credentials(token: token, origin: origin)
    }
}
