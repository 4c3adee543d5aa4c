import Foundation

/// A port of `ftfy.fix_text` (ftfy 6.3.1 with its default configuration), the first step of
/// open_clip's `basic_clean`.
///
/// What it does, in ftfy's order, on each line (segment ending in `\n`) until nothing changes:
/// 1. `unescape_html`: `&name;` / `&#NN;` / `&#xHH;` (ftfy's strict reading, see
///    `HTMLUnescape.ftfyUnescape`); skipped from the first line that contains a `<` onwards.
/// 2. `fix_encoding`: when ftfy's heuristic (`MojibakeHeuristic.isBad`) says the text looks like
///    mojibake, re-encode it in the first of ftfy's ten single-byte encodings (Latin-1,
///    Windows-1252/1251/1250/1253/1254/1257, ISO-8859-2, MacRoman, CP437) that can represent it
///    and decode the bytes as UTF-8, accepting the result only when the bytes are valid UTF-8
///    (CESU-8 surrogate pairs and `C0 80` allowed). Before decoding, spaces that stood for a
///    lost U+00A0 byte are restored where only that makes a valid sequence, and bytes lost to
///    U+FFFD are replaced. Failing that, mojibake embedded in otherwise good text is fixed piece
///    by piece, Latin-1 read as Windows-1252 is reinterpreted, and C1 controls are mapped.
///    The heuristic is ftfy's: the text is only touched when it contains character sequences
///    that are far more likely mojibake than intended (`cafÃ©`, `â€œ`), and a fix is only
///    applied when the whole sequence decodes as UTF-8, so ordinary accented text, symbols and
///    non-Latin scripts are left alone.
/// 3. `fix_c1_controls` (U+0080...U+009F read as Windows-1252), `fix_latin_ligatures`
///    (`ﬁ` → `fi`, …), `fix_character_width` (full-width ASCII → ASCII, U+3000 → space,
///    half-width katakana → full width), `uncurl_quotes` (`‘’‚‛ʼ` → `'`, `“”„‟` → `"`),
///    `fix_line_breaks` (CR LF, CR, U+2028, U+2029, U+0085 → LF), `remove_terminal_escapes`
///    (ANSI `ESC [ … letter`), `remove_control_chars` (C0 controls except TAB LF FF CR, DEL,
///    U+206A...U+206F, U+FEFF, U+FFF9...U+FFFC), then NFC.
/// (`fix_surrogates` has nothing to do: a Swift string cannot hold unpaired surrogates.)
enum TextFixer {
    /// `ftfy.fix_text(text)`.
    static func fixText(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        let maxSegmentLength = 1_000_000
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(text.count)
        var unescapeHTML = true
        var position = 0
        while position < text.count {
            var end = text[position...].firstIndex(of: "\n").map { $0 + 1 } ?? text.count
            if end - position > maxSegmentLength { end = position + maxSegmentLength }
            let segment = Array(text[position..<end])
            // "auto": once a line contains "<" the text is taken to be HTML, and entities are
            // left alone from there on.
            if unescapeHTML, segment.contains("<") { unescapeHTML = false }
            out.append(contentsOf: fixSegment(segment, unescapeHTML: unescapeHTML))
            position = end
        }
        return out
    }

    /// `ftfy.fix_and_explain` on one segment (without the explanation).
    static func fixSegment(_ segment: [Unicode.Scalar], unescapeHTML: Bool) -> [Unicode.Scalar] {
        var text = segment
        while true {
            let original = text
            if unescapeHTML { text = HTMLUnescape.ftfyUnescape(text) }
            text = fixEncoding(text)
            text = fixC1Controls(text)
            text = fixLatinLigatures(text)
            text = fixCharacterWidth(text)
            text = uncurlQuotes(text)
            text = fixLineBreaks(text)
            text = removeTerminalEscapes(text)
            text = removeControlCharacters(text)
            text = nfc(text)
            if text == original { return text }
        }
    }

    // MARK: fix_encoding

    /// `ftfy.fix_encoding`: repeats single fixing steps until the text stops changing.
    static func fixEncoding(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var text = text
        while true {
            let previous = text
            text = fixEncodingStep(text)
            if text == previous { return text }
        }
    }

    /// `ftfy._fix_encoding_one_step_and_explain`.
    static func fixEncodingStep(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        if text.isEmpty || text.allSatisfy({ $0.isASCII }) || !MojibakeHeuristic.isBad(text) {
            return text
        }
        var possible: [String] = []
        for encoding in SingleByteEncoding.all {
            guard var bytes = encoding.encode(text) else { continue }
            possible.append(encoding.name)
            if encoding.name != "macroman", ByteFixes.hasAlteredUTF8(bytes) {
                bytes = ByteFixes.restoreByteA0(bytes)
            }
            if encoding.isSloppy {
                bytes = ByteFixes.replaceLossySequences(bytes)
            }
            let variants = bytes.contains(0xED) || bytes.contains(0xC0)
            if let fixed = UTF8Decoding.decode(bytes, allowVariants: variants) {
                return fixed
            }
        }
        if !MojibakeHeuristic.utf8MojibakeRuns(text).isEmpty {
            let fixed = decodeInconsistentUTF8(text)
            if fixed != text { return fixed }
        }
        // ftfy then checks for "windows-1252" among the possible encodings, a name that list
        // never holds (it holds "sloppy-windows-1252"), so Latin-1 text always goes on to the
        // strict Windows-1252 reinterpretation.
        if possible.contains("latin-1") {
            if let fixed = latin1AsWindows1252(text), fixed != text { return fixed }
        }
        if text.contains(where: isC1Control) {
            return fixC1Controls(text)
        }
        return text
    }

    /// `ftfy.fixes.decode_inconsistent_utf8`: fixes each run that looks like UTF-8 mojibake on
    /// its own, when it is shorter than the whole text and looks bad by itself.
    static func decodeInconsistentUTF8(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(text.count)
        var position = 0
        for run in MojibakeHeuristic.utf8MojibakeRuns(text) {
            out.append(contentsOf: text[position..<run.lowerBound])
            let piece = Array(text[run])
            if piece.count < text.count, MojibakeHeuristic.isBad(piece) {
                out.append(contentsOf: fixEncoding(piece))
            } else {
                out.append(contentsOf: piece)
            }
            position = run.upperBound
        }
        out.append(contentsOf: text[position...])
        return out
    }

    /// `text.encode("latin-1").decode("windows-1252")`, nil where either step fails.
    private static func latin1AsWindows1252(_ text: [Unicode.Scalar]) -> [Unicode.Scalar]? {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(text.count)
        for s in text {
            guard s.value < 0x100 else { return nil }
            if isC1Control(s) {
                switch s.value {
                case 0x81, 0x8D, 0x8F, 0x90, 0x9D: return nil  // undefined in Windows-1252
                default: out.append(HTMLUnescape.windows1252C1[Int(s.value - 0x80)])
                }
            } else {
                out.append(s)
            }
        }
        return out
    }

    private static func isC1Control(_ s: Unicode.Scalar) -> Bool {
        s.value >= 0x80 && s.value <= 0x9F
    }

    // MARK: The character fixers

    /// `fix_c1_controls`: C1 controls read as (sloppy) Windows-1252.
    static func fixC1Controls(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        guard text.contains(where: isC1Control) else { return text }
        return text.map { isC1Control($0) ? HTMLUnescape.windows1252C1[Int($0.value - 0x80)] : $0 }
    }

    private static let ligatureMap: [UInt32: [Unicode.Scalar]] = scalarMap(TextFixerTables.ligatures)
    private static let widthMap: [UInt32: [Unicode.Scalar]] = scalarMap(TextFixerTables.widthMap)

    private static func scalarMap(_ pairs: [(UInt32, [UInt32])]) -> [UInt32: [Unicode.Scalar]] {
        Dictionary(uniqueKeysWithValues: pairs.map { ($0.0, $0.1.map { Unicode.Scalar($0)! }) })
    }

    private static func translate(_ text: [Unicode.Scalar], _ map: [UInt32: [Unicode.Scalar]],
                                  candidate: (UInt32) -> Bool) -> [Unicode.Scalar] {
        guard text.contains(where: { candidate($0.value) && map[$0.value] != nil }) else { return text }
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(text.count)
        for s in text {
            if candidate(s.value), let replacement = map[s.value] {
                out.append(contentsOf: replacement)
            } else {
                out.append(s)
            }
        }
        return out
    }

    /// `fix_latin_ligatures`: `ﬁ` → `fi`, `ﬂ` → `fl`, `ﬀ` → `ff`, `ﬃ`, `ﬄ`, `ﬅ` → `ſt`, `ﬆ` → `st`,
    /// `Ĳ`/`ĳ`, `ŉ` → `ʼn`, and the DŽ/LJ/NJ/DZ digraphs.
    static func fixLatinLigatures(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        translate(text, ligatureMap) { (0x132...0x1F3).contains($0) || (0xFB00...0xFB06).contains($0) }
    }

    /// `fix_character_width`: U+3000 → space, U+FF01...U+FFEF → their NFKC forms (full-width
    /// ASCII → ASCII, half-width katakana and Hangul → standard width).
    static func fixCharacterWidth(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        translate(text, widthMap) { $0 == 0x3000 || (0xFF01...0xFFEF).contains($0) }
    }

    /// `uncurl_quotes`: U+02BC and U+2018...U+201B → `'`, U+201C...U+201F → `"`.
    static func uncurlQuotes(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        guard text.contains(where: { $0.value == 0x2BC || (0x2018...0x201F).contains($0.value) }) else { return text }
        return text.map { s in
            switch s.value {
            case 0x2BC, 0x2018...0x201B: return "'"
            case 0x201C...0x201F: return "\""
            default: return s
            }
        }
    }

    /// `fix_line_breaks`: CR LF, CR, U+2028, U+2029 and U+0085 → LF.
    static func fixLineBreaks(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        guard text.contains(where: { [0x0D, 0x85, 0x2028, 0x2029].contains($0.value) }) else { return text }
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(text.count)
        var i = 0
        while i < text.count {
            switch text[i].value {
            case 0x0D:
                out.append("\n")
                if i + 1 < text.count, text[i + 1] == "\n" { i += 1 }
            case 0x2028, 0x2029, 0x85:
                out.append("\n")
            default:
                out.append(text[i])
            }
            i += 1
        }
        return out
    }

    /// `remove_terminal_escapes`: `ESC [ (\d|;)* [a-zA-Z]`.
    static func removeTerminalEscapes(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        guard text.contains("\u{1B}") else { return text }
        var out: [Unicode.Scalar] = []
        var i = 0
        while i < text.count {
            if text[i] == "\u{1B}", i + 1 < text.count, text[i + 1] == "[" {
                var j = i + 2
                while j < text.count, text[j] == ";" || PythonUnicode.isDecimalDigit(text[j]) { j += 1 }
                if j < text.count, PythonUnicode.isASCIILetter(text[j]) {
                    i = j + 1
                    continue
                }
            }
            out.append(text[i])
            i += 1
        }
        return out
    }

    /// `remove_control_chars`.
    static func removeControlCharacters(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        guard text.contains(where: isRemovedControl) else { return text }
        return text.filter { !isRemovedControl($0) }
    }

    private static func isRemovedControl(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 0x00...0x08, 0x0B, 0x0E...0x1F, 0x7F, 0x206A...0x206F, 0xFEFF, 0xFFF9...0xFFFC: return true
        default: return false
        }
    }

    /// Unicode NFC (`unicodedata.normalize("NFC", text)`).
    static func nfc(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        // ASCII, and Latin-1 letters without combining marks, are already NFC.
        if text.allSatisfy({ $0.value < 0x300 }) { return text }
        return Array(text.string.precomposedStringWithCanonicalMapping.unicodeScalars)
    }
}

/// The single-byte encodings ftfy tries, as tables.
struct SingleByteEncoding: Sendable {
    let name: String
    /// ftfy's "sloppy" codecs (bytes the real codec leaves undefined pass through as Latin-1,
    /// and byte 0x1A stands for U+FFFD).
    let isSloppy: Bool
    /// Code point → byte for every character the encoding can produce.
    let encoder: [UInt32: UInt8]

    static let all: [SingleByteEncoding] = TextFixerTables.encodings.map { entry in
        var encoder: [UInt32: UInt8] = [:]
        for b in 0..<0x80 where b != 0x1A { encoder[UInt32(b)] = UInt8(b) }
        encoder[entry.byte1A] = 0x1A
        for (offset, value) in entry.high.enumerated() { encoder[value] = UInt8(0x80 + offset) }
        return SingleByteEncoding(name: entry.name, isSloppy: entry.name.hasPrefix("sloppy-"), encoder: encoder)
    }

    /// The bytes of `text` in this encoding, or nil when some character is not in it
    /// (ftfy's `possible_encoding` followed by `str.encode`).
    func encode(_ text: [Unicode.Scalar]) -> [UInt8]? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.count)
        for s in text {
            guard let b = encoder[s.value] else { return nil }
            bytes.append(b)
        }
        return bytes
    }
}

/// Byte-level repairs ftfy applies before decoding re-encoded text as UTF-8. The byte regexes
/// of ftfy (`ALTERED_UTF8_RE`, `LOSSY_UTF8_RE`, `A_GRAVE_WORD_RE`) are written out as code;
/// each `…Length` function returns the length of the first alternative that matches at `i`,
/// like the regex alternation.
enum ByteFixes {
    @inline(__always) private static func isContinuation(_ b: UInt8) -> Bool { b & 0xC0 == 0x80 }
    /// `[\x80-\x84\x86-\x9f\xa1-\xbf]`: a continuation byte other than 0x85 and 0xA0.
    @inline(__always) private static func isContinuationNot85A0(_ b: UInt8) -> Bool {
        isContinuation(b) && b != 0x85 && b != 0xA0
    }

    /// `ALTERED_UTF8_RE`: UTF-8 sequences whose 0xA0 byte became a space.
    private static func alteredLength(_ x: [UInt8], at i: Int) -> Int? {
        let n = x.count
        let b0 = x[i]
        func at(_ k: Int) -> UInt8? { i + k < n ? x[i + k] : nil }
        switch b0 {
        case 0xC2, 0xC3, 0xC5, 0xCE, 0xD0, 0xD9:
            if at(1) == 0x20 { return 2 }
        case 0xE0...0xE3:
            // [\xe2\xe3][ ][cont] | [\xe0-\xe3][cont][ ]
            if b0 >= 0xE2, at(1) == 0x20, let c = at(2), isContinuationNot85A0(c) { return 3 }
            if let c = at(1), isContinuationNot85A0(c), at(2) == 0x20 { return 3 }
        case 0xF0:
            guard let b1 = at(1), let b2 = at(2), let b3 = at(3) else { return nil }
            if b1 == 0x20, isContinuation(b2), isContinuation(b3) { return 4 }
            if isContinuation(b1), b2 == 0x20, isContinuation(b3) { return 4 }
            if isContinuation(b1), isContinuation(b2), b3 == 0x20 { return 4 }
        default:
            break
        }
        return nil
    }

    /// `LOSSY_UTF8_RE`: UTF-8 sequences in which bytes were lost to U+FFFD (byte 0x1A in the
    /// sloppy codecs) or to `?`.
    private static func lossyLength(_ x: [UInt8], at i: Int) -> Int? {
        let n = x.count
        let b0 = x[i]
        func at(_ k: Int) -> UInt8 { i + k < n ? x[i + k] : 0 }  // 0 matches no class below
        func sub(_ b: UInt8) -> Bool { b == 0x1A }
        func subOrQ(_ b: UInt8) -> Bool { b == 0x1A || b == 0x3F }
        func subOrCont(_ b: UInt8) -> Bool { b == 0x1A || isContinuation(b) }
        func subQOrCont(_ b: UInt8) -> Bool { b == 0x1A || b == 0x3F || isContinuation(b) }
        switch b0 {
        case 0x1A:
            return 1
        case 0xC2...0xDF:
            if sub(at(1)) { return 2 }
            if b0 <= 0xC3, at(1) == 0x3F { return 2 }
        case 0xE0...0xEF:
            if b0 == 0xED, (0xA0...0xAF).contains(at(1)), at(3) == 0xED, (0xB0...0xBF).contains(at(4)) {
                if subOrQ(at(2)), subQOrCont(at(5)) { return 6 }
                if subQOrCont(at(2)), subOrQ(at(5)) { return 6 }
            }
            if subOrQ(at(1)), subOrCont(at(2)) { return 3 }
            if subOrCont(at(1)), subOrQ(at(2)) { return 3 }
        case 0xF0...0xF4:
            if subOrQ(at(1)), subOrCont(at(2)), subOrCont(at(3)) { return 4 }
            if subOrCont(at(1)), subOrQ(at(2)), subOrCont(at(3)) { return 4 }
            if subOrCont(at(1)), subOrCont(at(2)), subOrQ(at(3)) { return 4 }
        default:
            break
        }
        return nil
    }

    static func hasAlteredUTF8(_ bytes: [UInt8]) -> Bool {
        bytes.indices.contains { alteredLength(bytes, at: $0) != nil }
    }

    /// `restore_byte_a0`.
    static func restoreByteA0(_ input: [UInt8]) -> [UInt8] {
        // A_GRAVE_WORD_RE: `\xc3 (?! |quele|quela|quilo|s )` → `\xc3\xa0 ` ("Ã la" is "à la").
        var bytes: [UInt8] = []
        bytes.reserveCapacity(input.count + 4)
        var i = 0
        while i < input.count {
            if input[i] == 0xC3, i + 1 < input.count, input[i + 1] == 0x20,
               !startsWithAny(input, at: i + 2, aGraveExceptions) {
                bytes.append(contentsOf: [0xC3, 0xA0, 0x20])
                i += 2
            } else {
                bytes.append(input[i])
                i += 1
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        i = 0
        while i < bytes.count {
            if let length = alteredLength(bytes, at: i) {
                out.append(contentsOf: bytes[i..<(i + length)].map { $0 == 0x20 ? 0xA0 : $0 })
                i += length
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return out
    }

    private static let aGraveExceptions: [[UInt8]] = [" ", "quele", "quela", "quilo", "s "].map { Array($0.utf8) }

    /// `replace_lossy_sequences`: each lossy sequence becomes the UTF-8 of U+FFFD.
    static func replaceLossySequences(_ bytes: [UInt8]) -> [UInt8] {
        guard bytes.contains(where: { $0 == 0x1A || $0 == 0x3F }) else { return bytes }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            if let length = lossyLength(bytes, at: i) {
                out.append(contentsOf: [0xEF, 0xBF, 0xBD])
                i += length
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return out
    }

    private static func startsWithAny(_ bytes: [UInt8], at i: Int, _ prefixes: [[UInt8]]) -> Bool {
        prefixes.contains { p in i + p.count <= bytes.count && bytes[i..<(i + p.count)].elementsEqual(p) }
    }
}

/// Strict UTF-8 decoding as Python's codec does it (no overlongs, no surrogates, nothing past
/// U+10FFFF), optionally extended like ftfy's "utf-8-variants" codec: a CESU-8 surrogate pair
/// (`ED A0-AF 80-BF ED B0-BF 80-BF`) decodes to its supplementary character and `C0 80` to
/// U+0000.
enum UTF8Decoding {
    static func decode(_ bytes: [UInt8], allowVariants: Bool) -> [Unicode.Scalar]? {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(bytes.count)
        let n = bytes.count
        var i = 0
        func cont(_ k: Int) -> UInt32? {
            k < n && bytes[k] & 0xC0 == 0x80 ? UInt32(bytes[k] & 0x3F) : nil
        }
        while i < n {
            let b0 = bytes[i]
            switch b0 {
            case 0x00...0x7F:
                out.append(Unicode.Scalar(b0))
                i += 1
            case 0xC2...0xDF:
                guard let c1 = cont(i + 1) else { return nil }
                out.append(Unicode.Scalar(UInt32(b0 & 0x1F) << 6 | c1)!)
                i += 2
            case 0xE0...0xEF:
                if allowVariants, b0 == 0xED, i + 5 < n,
                   (0xA0...0xAF).contains(bytes[i + 1]), cont(i + 2) != nil, bytes[i + 3] == 0xED,
                   (0xB0...0xBF).contains(bytes[i + 4]), cont(i + 5) != nil {
                    let value = (UInt32(bytes[i + 1] & 0x0F) << 16) + (UInt32(bytes[i + 2] & 0x3F) << 10)
                        + (UInt32(bytes[i + 4] & 0x0F) << 6) + UInt32(bytes[i + 5] & 0x3F) + 0x10000
                    out.append(Unicode.Scalar(value)!)
                    i += 6
                    continue
                }
                guard i + 1 < n else { return nil }
                let b1 = bytes[i + 1]
                let lower: UInt8 = b0 == 0xE0 ? 0xA0 : 0x80
                let upper: UInt8 = b0 == 0xED ? 0x9F : 0xBF
                guard b1 >= lower, b1 <= upper, let c2 = cont(i + 2) else { return nil }
                out.append(Unicode.Scalar(UInt32(b0 & 0x0F) << 12 | UInt32(b1 & 0x3F) << 6 | c2)!)
                i += 3
            case 0xF0...0xF4:
                guard i + 1 < n else { return nil }
                let b1 = bytes[i + 1]
                let lower: UInt8 = b0 == 0xF0 ? 0x90 : 0x80
                let upper: UInt8 = b0 == 0xF4 ? 0x8F : 0xBF
                guard b1 >= lower, b1 <= upper, let c2 = cont(i + 2), let c3 = cont(i + 3) else { return nil }
                out.append(Unicode.Scalar(UInt32(b0 & 0x07) << 18 | UInt32(b1 & 0x3F) << 12 | c2 << 6 | c3)!)
                i += 4
            case 0xC0 where allowVariants && i + 1 < n && bytes[i + 1] == 0x80:
                out.append("\u{0}")
                i += 2
            default:
                return nil
            }
        }
        return out
    }
}
