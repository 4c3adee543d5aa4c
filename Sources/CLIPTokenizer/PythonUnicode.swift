/// The character predicates and case mapping of CPython and of the `regex` module that the
/// reference tokenizer relies on, written over Unicode scalars.
///
/// The reference code works on Python `str` values (sequences of code points), so everything in
/// this module does too: text is handled as `[Unicode.Scalar]`, never as `Character`s (grapheme
/// clusters) and never compared with `String ==` (which is canonical equivalence, not code point
/// equality).
enum PythonUnicode {
    /// `str.isspace()` and the `\s` of Python's `re`: Unicode White_Space plus the ASCII
    /// separators U+001C...U+001F (which CPython counts as whitespace through their bidi class).
    static func isSpace(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 0x09...0x0D, 0x1C...0x20: return true
        case 0x21..<0x80: return false
        default: return s.properties.isWhitespace
        }
    }

    /// `\s` of the `regex` module (the one open_clip's `whitespace_clean` and token pattern use):
    /// the Unicode White_Space property.
    static func isRegexSpace(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 0x09...0x0D, 0x20: return true
        case 0x00..<0x80: return false
        default: return s.properties.isWhitespace
        }
    }

    /// `\p{L}`: general category L (Lu, Ll, Lt, Lm, Lo). Not `isAlphabetic`, which also takes
    /// in some marks and numbers.
    static func isLetter(_ s: Unicode.Scalar) -> Bool {
        if s.value < 0x80 {
            return (s.value | 0x20) >= 0x61 && (s.value | 0x20) <= 0x7A
        }
        switch s.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return true
        default: return false
        }
    }

    /// `\p{N}`: general category N (Nd, Nl, No).
    static func isNumber(_ s: Unicode.Scalar) -> Bool {
        if s.value < 0x80 { return s.value >= 0x30 && s.value <= 0x39 }
        switch s.properties.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber: return true
        default: return false
        }
    }

    /// `\d` of Python's `re` on `str`: decimal digits (Nd).
    static func isDecimalDigit(_ s: Unicode.Scalar) -> Bool {
        if s.value < 0x80 { return s.value >= 0x30 && s.value <= 0x39 }
        return s.properties.generalCategory == .decimalNumber
    }

    /// `\w` of Python's `re` on `str`: `str.isalnum()` (letters, and characters with a numeric
    /// value) or the underscore.
    static func isWordCharacter(_ s: Unicode.Scalar) -> Bool {
        if s.value < 0x80 {
            return isLetter(s) || isNumber(s) || s == "_"
        }
        return isLetter(s) || isNumber(s) || s.properties.numericType != nil
    }

    static func isASCIILetter(_ s: Unicode.Scalar) -> Bool {
        s.value < 0x80 && isLetter(s)
    }

    static func isASCIILowercase(_ s: Unicode.Scalar) -> Bool {
        s.value >= 0x61 && s.value <= 0x7A
    }

    /// `str.strip()`: drops leading and trailing `isSpace` characters.
    static func strip(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var start = 0
        var end = text.count
        while start < end, isSpace(text[start]) { start += 1 }
        while end > start, isSpace(text[end - 1]) { end -= 1 }
        if start == 0, end == text.count { return text }
        return Array(text[start..<end])
    }

    /// `str.lower()`: the full (SpecialCasing) lower-case mapping of each code point, with
    /// CPython's Final_Sigma rule for U+03A3 GREEK CAPITAL LETTER SIGMA.
    static func lower(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(text.count)
        for (i, s) in text.enumerated() {
            if s.value < 0x80 {
                out.append(s.value >= 0x41 && s.value <= 0x5A ? Unicode.Scalar(s.value | 0x20)! : s)
            } else if s.value == 0x03A3 {
                out.append(isFinalSigma(text, at: i) ? "\u{03C2}" : "\u{03C3}")
            } else {
                let mapping = s.properties.lowercaseMapping
                if mapping.unicodeScalars.count == 1, mapping.unicodeScalars.first == s {
                    out.append(s)
                } else {
                    out.append(contentsOf: mapping.unicodeScalars)
                }
            }
        }
        return out
    }

    /// CPython's `handle_capital_sigma`: the sigma follows a cased letter (skipping
    /// case-ignorable characters) and is not followed by one.
    private static func isFinalSigma(_ text: [Unicode.Scalar], at i: Int) -> Bool {
        var j = i - 1
        while j >= 0, text[j].properties.isCaseIgnorable { j -= 1 }
        guard j >= 0, text[j].properties.isCased else { return false }
        j = i + 1
        while j < text.count, text[j].properties.isCaseIgnorable { j += 1 }
        return j == text.count || !text[j].properties.isCased
    }
}

extension Array where Element == Unicode.Scalar {
    var string: String {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: self)
        return String(view)
    }
}
