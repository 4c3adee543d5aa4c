import Foundation

/// The `[Section]` / `Key=Value` format shared by systemd units and D-Bus activation files,
/// read strictly enough to catch a malformed line: comments (`#`, `;`) and blank lines are
/// skipped, every other line must be a section header or a key=value pair inside a section.
struct KeyFile: Sendable {
    struct Malformed: Error, CustomStringConvertible {
        let description: String
    }

    /// Section name → its entries in file order (a key may repeat, as systemd allows).
    private(set) var sections: [String: [(key: String, value: String)]] = [:]
    private(set) var sectionOrder: [String] = []

    init(text: String, name: String) throws {
        var current: String?
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") {
                guard line.hasSuffix("]"), line.count > 2 else {
                    throw Malformed(description: "\(name):\(index + 1): bad section header '\(line)'")
                }
                let section = String(line.dropFirst().dropLast())
                guard sections[section] == nil else {
                    throw Malformed(description: "\(name):\(index + 1): section [\(section)] appears twice")
                }
                sections[section] = []
                sectionOrder.append(section)
                current = section
                continue
            }
            guard let section = current else {
                throw Malformed(description: "\(name):\(index + 1): '\(line)' is outside any section")
            }
            guard let equals = line.firstIndex(of: "="), equals != line.startIndex else {
                throw Malformed(description: "\(name):\(index + 1): '\(line)' is not Key=Value")
            }
            guard !line.hasSuffix("\\") else {
                throw Malformed(description: "\(name):\(index + 1): continuation lines are not used in these files")
            }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces)
            let value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            sections[section, default: []].append((key, value))
        }
    }

    init(contentsOfFile path: String) throws {
        try self.init(text: try String(contentsOfFile: path, encoding: .utf8), name: path)
    }

    /// Every value of `key` in `section`, in file order.
    func values(_ section: String, _ key: String) -> [String] {
        (sections[section] ?? []).filter { $0.key == key }.map(\.value)
    }

    /// The last value of `key` in `section` (the one systemd uses for single-valued keys).
    func value(_ section: String, _ key: String) -> String? {
        values(section, key).last
    }
}
