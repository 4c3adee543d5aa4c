import Foundation

/// What the store knows about an installed model: written beside the weights as
/// `installed.json` when the model is installed, only after every check passed.
///
/// Not `model.json` nor `config.json`: `ModelLocation` reads `config.json` and `<weights stem>.json`
/// (`model.json` for `model.ckpt`) beside the weights as the model's configuration.
public struct InstallRecord: Codable, Sendable, Equatable {
    /// The preset the weights were checked against; nil for a custom configuration.
    public var preset: String?
    /// Where the weights came from: a URL for `fetch`, the file's path for `add`.
    public var source: String
    /// The original weights file's name inside the folder (`model.ckpt` or `model.safetensors`).
    public var file: String
    /// Lower-case hex SHA-256 of `file`.
    public var sha256: String
    /// The hash the server published (`X-Linked-Etag`/`ETag`), when fetched.
    public var publishedSHA256: String?
    public var size: Int64
    /// True once the hash matched and the keys and shapes fitted the preset or configuration.
    public var verified: Bool
    /// ISO 8601, UTC.
    public var installed: String
    /// Floating-point dtypes of the weights (e.g. "f32", "f16+f32").
    public var dtype: String
    /// A converted safetensors copy written by `--convert`, if any.
    public var converted: ConvertedCopy?

    public struct ConvertedCopy: Codable, Sendable, Equatable {
        public var file: String
        public var dtype: String
        public var size: Int64
        public init(file: String, dtype: String, size: Int64) {
            self.file = file
            self.dtype = dtype
            self.size = size
        }
    }

    /// The record's file, beside the weights. The only place that names it: `ModelLocation`
    /// reads the `preset` field through `recordedPreset(beside:)`.
    public static let fileName = "installed.json"

    public init(preset: String?, source: String, file: String, sha256: String, publishedSHA256: String?, size: Int64,
                verified: Bool, installed: String, dtype: String, converted: ConvertedCopy? = nil) {
        self.preset = preset
        self.source = source
        self.file = file
        self.sha256 = sha256
        self.publishedSHA256 = publishedSHA256
        self.size = size
        self.verified = verified
        self.installed = installed
        self.dtype = dtype
        self.converted = converted
    }

    static func now() -> String {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: Date())
    }

    /// The `preset` field of the record beside `weights`, if there is one: what `models
    /// fetch|add` checked the file against (`models fetch 1024 --name hd`), which tells the
    /// 512, 512-interp and 1024 checkpoints apart where their keys cannot. Read leniently (only
    /// that field, from a file of at most 64 KiB): a record written by hand or by an older
    /// version still names its preset.
    static func recordedPreset(beside weights: String) -> String? {
        struct PresetField: Decodable { let preset: String? }
        let folder = (weights as NSString).deletingLastPathComponent
        let path = ((folder.isEmpty ? "." : folder) as NSString).appendingPathComponent(fileName)
        guard let data = FileManager.default.contents(atPath: path), data.count < 1 << 16 else { return nil }
        return (try? JSONDecoder().decode(PresetField.self, from: data))?.preset
    }

    func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }
}

/// One model in the store, as `models list` and the daemon's `GetModels` show it.
public struct InstalledModel: Sendable, Equatable {
    /// The folder's name.
    public let name: String
    /// The folder.
    public let path: String
    /// The weights file `ModelLocation.resolve` would load (safetensors preferred).
    public let weightsPath: String
    /// From the record, else the folder's name when it is a preset's.
    public let preset: String?
    /// Bytes of all weight files in the folder.
    public let size: Int64
    /// Of the file that would be loaded.
    public let dtype: String
    /// The record says every check passed. False for folders put there by hand.
    public let verified: Bool
    /// Nil for folders without a record (a demo model, a checkpoint copied by hand).
    public let record: InstallRecord?
}
