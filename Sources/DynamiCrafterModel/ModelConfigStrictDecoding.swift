import Foundation

/// A configuration the port cannot run: options it does not know (listed by key path, all at
/// once) or values that select behaviour it does not implement.
public enum ModelConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Keys the port does not know, as dotted paths (`model.params.unet_config.params.foo`).
    case unknownOptions([String])
    /// A known option set to a value that selects unsupported behaviour.
    case unsupported(option: String, value: String, reason: String)
    /// A value that is malformed or inconsistent with the rest of the configuration.
    case invalid(option: String, reason: String)
    /// The file could not be parsed at all.
    case malformed(String)

    public var description: String {
        switch self {
        case .unknownOptions(let keys):
            "unsupported configuration option\(keys.count == 1 ? "" : "s") (not understood by this port): \(keys.joined(separator: ", "))"
        case .unsupported(let o, let v, let r): "unsupported configuration: \(o) = \(v) (\(r))"
        case .invalid(let o, let r): "invalid configuration: \(o): \(r)"
        case .malformed(let m): "malformed configuration: \(m)"
        }
    }
}

/// Collects unknown keys while a configuration decodes, so that all of them are reported at once.
final class UnknownKeyCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var paths: [String] = []

    func add(_ path: String) { lock.lock(); paths.append(path); lock.unlock() }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return paths }

    static let userInfoKey = CodingUserInfoKey(rawValue: "DynamiCrafterModel.UnknownKeyCollector")!
}

struct AnyCodingKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(stringValue: String) { self.stringValue = stringValue; self.intValue = nil }
    init?(intValue: Int) { self.stringValue = String(intValue); self.intValue = intValue }
}

/// Every `Decodable` configuration type calls this first: keys outside `allowed` are recorded
/// (with their full path) in the decoder's collector, or thrown at once without one.
func rejectUnknownKeys(_ decoder: any Decoder, allowed: [String]) throws {
    let container = try decoder.container(keyedBy: AnyCodingKey.self)
    let known = Set(allowed)
    let unknown = container.allKeys.map(\.stringValue).filter { !known.contains($0) }.sorted()
    guard !unknown.isEmpty else { return }
    let base = decoder.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
    let paths = unknown.map { base.isEmpty ? $0 : base + "." + $0 }
    if let collector = decoder.userInfo[UnknownKeyCollector.userInfoKey] as? UnknownKeyCollector {
        paths.forEach(collector.add)
    } else {
        throw ModelConfigError.unknownOptions(paths)
    }
}

func configPath(_ codingPath: [any CodingKey], _ last: String) -> String {
    (codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue } + [last]).joined(separator: ".")
}
