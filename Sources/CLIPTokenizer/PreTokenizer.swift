/// CLIP's pre-tokenizer: open_clip's pattern
/// `<start_of_text>|<end_of_text>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+`
/// (compiled with `regex.IGNORECASE`), run like `regex.findall` over code points.
///
/// At each position the alternatives are tried in order and the first that matches wins:
/// the two special tokens, the seven contractions (so `'single` gives `'s` + `ingle`), a run of
/// letters, one digit, or a run of characters that are neither whitespace, letters nor
/// digits; whitespace between pieces is skipped. Letters and digits are general categories
/// L* and N*. Case-insensitive matching only matters for the literal alternatives and, on
/// lower-cased text, only adds U+017F LATIN SMALL LETTER LONG S as a match for `s`.
enum PreTokenizer {
    static func split(_ text: [Unicode.Scalar]) -> [ArraySlice<Unicode.Scalar>] {
        var pieces: [ArraySlice<Unicode.Scalar>] = []
        var i = 0
        let n = text.count
        while i < n {
            if let length = literalMatch(text, at: i) {
                pieces.append(text[i..<(i + length)])
                i += length
                continue
            }
            let s = text[i]
            if PythonUnicode.isLetter(s) {
                var end = i + 1
                while end < n, PythonUnicode.isLetter(text[end]) { end += 1 }
                pieces.append(text[i..<end])
                i = end
            } else if PythonUnicode.isNumber(s) {
                pieces.append(text[i..<(i + 1)])
                i += 1
            } else if !PythonUnicode.isRegexSpace(s) {
                var end = i + 1
                while end < n, isOther(text[end]) { end += 1 }
                pieces.append(text[i..<end])
                i = end
            } else {
                i += 1
            }
        }
        return pieces
    }

    private static func isOther(_ s: Unicode.Scalar) -> Bool {
        !PythonUnicode.isRegexSpace(s) && !PythonUnicode.isLetter(s) && !PythonUnicode.isNumber(s)
    }

    /// The literal alternatives, in the pattern's order.
    private static let literals: [[Unicode.Scalar]] = [
        "<start_of_text>", "<end_of_text>", "'s", "'t", "'re", "'ve", "'m", "'ll", "'d",
    ].map { Array($0.unicodeScalars) }

    private static func literalMatch(_ text: [Unicode.Scalar], at i: Int) -> Int? {
        let first = text[i]
        guard first == "<" || first == "'" else { return nil }
        for literal in literals where literal[0] == first && i + literal.count <= text.count {
            var matched = true
            for k in 1..<literal.count where !caseInsensitiveEqual(text[i + k], literal[k]) {
                matched = false
                break
            }
            if matched { return literal.count }
        }
        return nil
    }

    /// Simple case folding for the ASCII pattern characters, as the `regex` module applies it.
    private static func caseInsensitiveEqual(_ s: Unicode.Scalar, _ p: Unicode.Scalar) -> Bool {
        if s == p { return true }
        if (0x61...0x7A).contains(p.value), s.value == p.value - 0x20 { return true }
        return p == "s" && s == "\u{017F}"
    }
}
