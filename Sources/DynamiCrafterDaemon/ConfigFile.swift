import Foundation

/// The daemon's configuration file: one `key = value` per line, `#` starts a comment, keys are
/// the long command-line options without their dashes (`models-dir = /srv/models`). Options
/// given on the command line win over the file.
struct ConfigFile: Equatable {
    static let keys: Set<String> = [
        "bus", "models-dir", "model", "queue-length", "idle-exit", "threads", "backend", "precision", "job-retention", "preload",
        "shutdown-grace",
    ]

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    private(set) var values: [String: String] = [:]
    let path: String

    init(path: String, text: String) throws(Failure) {
        self.path = path
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = Substring(rawLine)
            if let hash = line.firstIndex(of: "#") { line = line[..<hash] }
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty { continue }
            guard let equals = trimmed.firstIndex(of: "=") else {
                throw Failure(description: "\(path):\(index + 1): expected 'key = value', got '\(trimmed)'")
            }
            let key = trimmed[..<equals].trimmingCharacters(in: .whitespaces)
            let value = trimmed[trimmed.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            guard Self.keys.contains(key) else {
                throw Failure(description: "\(path):\(index + 1): unknown setting '\(key)'; known: \(Self.keys.sorted().joined(separator: ", "))")
            }
            guard values.updateValue(value, forKey: key) == nil else {
                throw Failure(description: "\(path):\(index + 1): '\(key)' is set twice")
            }
        }
    }

    static func load(path: String) throws(Failure) -> ConfigFile {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw Failure(description: "cannot read the configuration file \(path): \(error.localizedDescription)")
        }
        return try ConfigFile(path: path, text: text)
    }

    subscript(key: String) -> String? { values[key] }

    func integer(_ key: String) throws(Failure) -> Int? {
        guard let text = values[key] else { return nil }
        guard let value = Int(text) else { throw Failure(description: "\(path): '\(key)' must be a whole number, not '\(text)'") }
        return value
    }

    func number(_ key: String) throws(Failure) -> Double? {
        guard let text = values[key] else { return nil }
        guard let value = Double(text), value.isFinite else { throw Failure(description: "\(path): '\(key)' must be a number, not '\(text)'") }
        return value
    }

    func boolean(_ key: String) throws(Failure) -> Bool? {
        guard let text = values[key] else { return nil }
        switch text.lowercased() {
        case "true", "yes", "1", "on": return true
        case "false", "no", "0", "off": return false
        default: throw Failure(description: "\(path): '\(key)' must be true or false, not '\(text)'")
        }
    }
}
