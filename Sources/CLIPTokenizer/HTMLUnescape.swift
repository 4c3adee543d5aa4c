/// HTML character references, decoded the two ways the reference does it:
///
/// * `pythonUnescape` is Python's `html.unescape` (which open_clip applies twice after ftfy): the
///   full WHATWG table of 2 231 named references (with and without `;`, the longest-prefix rule
///   for names without a semicolon such as `&notit;` → `¬it;`), and numeric references
///   `&#NN;` / `&#xHH;` (semicolon optional) with the HTML5 replacements (C1 controls read as
///   Windows-1252, surrogates and out-of-range values → U+FFFD, non-characters dropped).
/// * `ftfyUnescape` is ftfy's `unescape_html` fixer: only `&name;` with the semicolon, from the
///   same table plus ftfy's all-caps spellings of lower-case names (`&EACUTE;` → `É`), and
///   numeric references that end in `;`.
enum HTMLUnescape {
    /// Name (as written after `&`, including a trailing `;` if it has one) → replacement. Keys
    /// are code point arrays, not `String`s, so that lookups compare code points (a `String` key
    /// would let U+212A KELVIN SIGN find `Kappa;`).
    static let html5: [[Unicode.Scalar]: [Unicode.Scalar]] = parseTable(TextFixerTables.html5Entities)

    /// ftfy's table: every html5 name that ends in `;`, plus its extra upper-case names.
    static let ftfyEntities: [[Unicode.Scalar]: [Unicode.Scalar]] = {
        var table = html5.filter { $0.key.last == ";" }
        for (name, value) in parseTable(TextFixerTables.ftfyUppercaseEntities) {
            table[name] = value
        }
        return table
    }()

    private static func parseTable(_ text: String) -> [[Unicode.Scalar]: [Unicode.Scalar]] {
        var table: [[Unicode.Scalar]: [Unicode.Scalar]] = [:]
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard let name = fields.first else { continue }
            table[Array(name.unicodeScalars)] = fields.dropFirst().compactMap { UInt32($0, radix: 16).flatMap(Unicode.Scalar.init) }
        }
        return table
    }

    // MARK: html.unescape

    /// Python's `html.unescape`.
    static func pythonUnescape(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        guard text.contains("&") else { return text }
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(text.count)
        var i = 0
        while i < text.count {
            if text[i] == "&", let (replacement, end) = pythonReference(text, at: i) {
                out.append(contentsOf: replacement)
                i = end
            } else {
                out.append(text[i])
                i += 1
            }
        }
        return out
    }

    /// The reference starting at `text[start] == "&"` as `html.unescape`'s pattern
    /// `&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)` matches it, and its replacement.
    private static func pythonReference(_ text: [Unicode.Scalar], at start: Int) -> ([Unicode.Scalar], Int)? {
        var i = start + 1
        guard i < text.count else { return nil }
        if text[i] == "#" {
            i += 1
            var radix: UInt32 = 10
            if i < text.count, text[i] == "x" || text[i] == "X" {
                // `#[0-9]+` is tried first, but it cannot match when an x follows the #.
                radix = 16
                i += 1
            }
            let digitsStart = i
            var value: UInt32 = 0
            while i < text.count, let d = digitValue(text[i], radix: radix) {
                // Saturate: anything past U+10FFFF is replaced the same way.
                value = min(value &* radix &+ d, 0x110000)
                i += 1
            }
            guard i > digitsStart else { return nil }
            if i < text.count, text[i] == ";" { i += 1 }
            return (numericReplacement(value), i)
        }
        let nameStart = i
        while i < text.count, i - nameStart < 32, !isNameTerminator(text[i]) { i += 1 }
        guard i > nameStart else { return nil }
        if i < text.count, text[i] == ";" { i += 1 }
        let name = Array(text[nameStart..<i])
        if let value = html5[name] { return (value, i) }
        // The longest prefix (of at least two characters) that is a name without a semicolon.
        var length = name.count - 1
        while length > 1 {
            if let value = html5[Array(name[0..<length])] {
                return (value + name[length...], i)
            }
            length -= 1
        }
        return (["&"] + name, i)
    }

    private static func isNameTerminator(_ s: Unicode.Scalar) -> Bool {
        switch s {
        case "\t", "\n", "\u{0C}", " ", "<", "&", "#", ";": return true
        default: return false
        }
    }

    private static func digitValue(_ s: Unicode.Scalar, radix: UInt32) -> UInt32? {
        switch s.value {
        case 0x30...0x39: return s.value - 0x30
        case 0x41...0x46 where radix == 16: return s.value - 0x41 + 10
        case 0x61...0x66 where radix == 16: return s.value - 0x61 + 10
        default: return nil
        }
    }

    /// `html._replace_charref` for a numeric reference.
    private static func numericReplacement(_ value: UInt32) -> [Unicode.Scalar] {
        switch value {
        case 0x00: return ["\u{FFFD}"]
        case 0x0D: return ["\r"]
        case 0x80...0x9F: return [windows1252C1[Int(value - 0x80)]]
        case 0xD800...0xDFFF, 0x110000...: return ["\u{FFFD}"]
        case 0x01...0x08, 0x0B, 0x0E...0x1F, 0x7F, 0xFDD0...0xFDEF: return []
        default:
            if value & 0xFFFE == 0xFFFE { return [] }  // U+xFFFE and U+xFFFF of every plane
            return [Unicode.Scalar(value)!]
        }
    }

    /// Python's `html._invalid_charrefs` for 0x80...0x9F: Windows-1252, with the five bytes it
    /// leaves undefined kept as the C1 controls.
    static let windows1252C1: [Unicode.Scalar] = [
        "\u{20AC}", "\u{81}", "\u{201A}", "\u{0192}", "\u{201E}", "\u{2026}", "\u{2020}", "\u{2021}",
        "\u{02C6}", "\u{2030}", "\u{0160}", "\u{2039}", "\u{0152}", "\u{8D}", "\u{017D}", "\u{8F}",
        "\u{90}", "\u{2018}", "\u{2019}", "\u{201C}", "\u{201D}", "\u{2022}", "\u{2013}", "\u{2014}",
        "\u{02DC}", "\u{2122}", "\u{0161}", "\u{203A}", "\u{0153}", "\u{9D}", "\u{017E}", "\u{0178}",
    ]

    // MARK: ftfy's unescape_html

    /// ftfy's `unescape_html`: replaces each match of `&#?[0-9A-Za-z]{1,24};` that names a known
    /// entity (or is a complete numeric reference).
    static func ftfyUnescape(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        guard text.contains("&") else { return text }
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(text.count)
        var i = 0
        while i < text.count {
            guard text[i] == "&", let end = ftfyEntityEnd(text, at: i) else {
                out.append(text[i])
                i += 1
                continue
            }
            let entity = Array(text[i..<end])
            if let value = ftfyEntities[Array(entity.dropFirst())] {
                out.append(contentsOf: value)
            } else if entity[1] == "#" {
                let unescaped = pythonUnescape(entity)
                // html.unescape decoded only part of it: leave the whole thing alone.
                out.append(contentsOf: unescaped.contains(";") ? entity : unescaped)
            } else {
                out.append(contentsOf: entity)
            }
            i = end
        }
        return out
    }

    /// The end of a match of `&#?[0-9A-Za-z]{1,24};` at `start`, if there is one.
    private static func ftfyEntityEnd(_ text: [Unicode.Scalar], at start: Int) -> Int? {
        var i = start + 1
        if i < text.count, text[i] == "#" { i += 1 }
        let runStart = i
        while i < text.count, i - runStart <= 24, isASCIIAlphanumeric(text[i]) { i += 1 }
        let run = i - runStart
        guard run >= 1, run <= 24, i < text.count, text[i] == ";" else { return nil }
        return i + 1
    }

    private static func isASCIIAlphanumeric(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: return true
        default: return false
        }
    }
}
