/// ftfy 6.3.1's mojibake heuristic (`ftfy.badness.is_bad`) and its detector of embedded UTF-8
/// mojibake (`ftfy.chardata.UTF8_DETECTOR_RE`), evaluated by hand over code points.
///
/// The character classes are ftfy's own data (generated into `TextFixerTables`); the patterns
/// below are the alternatives of ftfy's `BADNESS_RE`, each written as a check of a few
/// consecutive characters. `isBad` is true when any alternative matches anywhere, which is all
/// `re.search` tells ftfy.
enum CharacterClasses {
    // One bit per ftfy character class (plain integers: cheap in unoptimised builds too).
    static let common: UInt32 = 1 << 0
    static let c1: UInt32 = 1 << 1
    static let bad: UInt32 = 1 << 2
    static let law: UInt32 = 1 << 3
    static let currency: UInt32 = 1 << 4
    static let startPunctuation: UInt32 = 1 << 5
    static let endPunctuation: UInt32 = 1 << 6
    static let numeric: UInt32 = 1 << 7
    static let kaomoji: UInt32 = 1 << 8
    static let upperAccented: UInt32 = 1 << 9
    static let lowerAccented: UInt32 = 1 << 10
    static let upperCommon: UInt32 = 1 << 11
    static let lowerCommon: UInt32 = 1 << 12
    static let box: UInt32 = 1 << 13
    static let utf8FirstOf2: UInt32 = 1 << 14
    static let utf8FirstOf3: UInt32 = 1 << 15
    static let utf8FirstOf4: UInt32 = 1 << 16
    static let utf8Continuation: UInt32 = 1 << 17
    static let utf8ContinuationStrict: UInt32 = 1 << 18

    private static let byName: [String: UInt32] = [
        "common": common, "c1": c1, "bad": bad, "law": law, "currency": currency,
        "start_punctuation": startPunctuation, "end_punctuation": endPunctuation,
        "numeric": numeric, "kaomoji": kaomoji, "upper_accented": upperAccented,
        "lower_accented": lowerAccented, "upper_common": upperCommon,
        "lower_common": lowerCommon, "box": box,
        "utf8_first_of_2": utf8FirstOf2, "utf8_first_of_3": utf8FirstOf3,
        "utf8_first_of_4": utf8FirstOf4, "utf8_continuation": utf8Continuation,
        "utf8_continuation_strict": utf8ContinuationStrict,
    ]

    /// The classes of U+0000...U+FFFF (every member of every class is in the BMP).
    private static let table: [UInt32] = {
        var table = [UInt32](repeating: 0, count: 0x10000)
        for (name, ranges) in TextFixerTables.mojibakeCategories + TextFixerTables.utf8Clues {
            guard let bit = byName[name] else {
                preconditionFailure("TextFixerTables names an unknown character class \(name)")
            }
            for range in ranges {
                for value in range { table[Int(value)] |= bit }
            }
        }
        return table
    }()

    /// The classes `scalar` belongs to, as a bit mask.
    static func of(_ scalar: Unicode.Scalar) -> UInt32 {
        scalar.value < 0x10000 ? table[Int(scalar.value)] : 0
    }

    static func of(_ text: [Unicode.Scalar]) -> [UInt32] {
        let table = Self.table
        return text.map { $0.value < 0x10000 ? table[Int($0.value)] : 0 }
    }
}

enum MojibakeHeuristic {
    private typealias C = CharacterClasses

    // Unions used by several alternatives of BADNESS_RE.
    private static let anyAccentedOrSymbol = C.lowerAccented | C.upperAccented | C.box | C.startPunctuation
        | C.endPunctuation | C.currency | C.numeric | C.law

    /// `ftfy.badness.is_bad`: whether the text contains a sequence that is much more likely to be
    /// mojibake than intended.
    static func isBad(_ t: [Unicode.Scalar]) -> Bool {
        let n = t.count
        guard n > 0 else { return false }
        let classes = C.of(t)
        func at(_ i: Int) -> UInt32 { i < n ? t[i].value : 0xFFFF_FFFF }
        func has(_ i: Int, _ mask: UInt32) -> Bool { i < n && classes[i] & mask != 0 }
        func isIn(_ i: Int, _ values: [UInt32]) -> Bool { i < n && values.contains(t[i].value) }
        func asciiLower(_ i: Int) -> Bool { i < n && PythonUnicode.isASCIILowercase(t[i]) }
        func asciiLetter(_ i: Int) -> Bool { i < n && PythonUnicode.isASCIILetter(t[i]) }

        for i in 0..<n {
            let c0 = classes[i]
            let v0 = t[i].value
            // Fast path: every alternative that can start at an ASCII character needs a
            // non-ASCII character right after it (or one after an ASCII space).
            if v0 < 0x80, i + 1 >= n || t[i + 1].value < 0x80, i + 2 >= n || t[i + 2].value < 0x80 { continue }
            func c0Has(_ mask: UInt32) -> Bool { c0 & mask != 0 }
            if c0Has(C.c1) { return true }
            // [bad lower_acc upper_acc box start end currency numeric law] [bad]
            if c0Has(anyAccentedOrSymbol | C.bad), has(i + 1, C.bad) { return true }
            // [a-zA-Z] [lower_common upper_common] [bad]
            if asciiLetter(i), has(i + 1, C.lowerCommon | C.upperCommon), has(i + 2, C.bad) { return true }
            // [bad] [lower_acc upper_acc box start end currency numeric law]
            if c0Has(C.bad), has(i + 1, anyAccentedOrSymbol) { return true }
            // [lower_acc lower_common box end currency numeric] [upper_acc]
            if c0Has(C.lowerAccented | C.lowerCommon | C.box | C.endPunctuation | C.currency | C.numeric),
               has(i + 1, C.upperAccented) { return true }
            // [box end currency numeric] [lower_acc]
            if c0Has(C.box | C.endPunctuation | C.currency | C.numeric), has(i + 1, C.lowerAccented) { return true }
            // [lower_acc box end] [currency]
            if c0Has(C.lowerAccented | C.box | C.endPunctuation), has(i + 1, C.currency) { return true }
            // \s [upper_acc] [currency]
            if PythonUnicode.isSpace(t[i]), has(i + 1, C.upperAccented), has(i + 2, C.currency) { return true }
            // [upper_acc box] [numeric law]
            if c0Has(C.upperAccented | C.box), has(i + 1, C.numeric | C.law) { return true }
            // [lower_acc upper_acc box currency end] [start] [numeric]
            if c0Has(C.lowerAccented | C.upperAccented | C.box | C.currency | C.endPunctuation),
               has(i + 1, C.startPunctuation), has(i + 2, C.numeric) { return true }
            // [lower_acc upper_acc currency numeric box law] [end] [start]
            if c0Has(C.lowerAccented | C.upperAccented | C.currency | C.numeric | C.box | C.law),
               has(i + 1, C.endPunctuation), has(i + 2, C.startPunctuation) { return true }
            // [currency numeric box] [start]
            if c0Has(C.currency | C.numeric | C.box), has(i + 1, C.startPunctuation) { return true }
            // [a-z] [upper_acc] [start currency]
            if asciiLower(i), has(i + 1, C.upperAccented), has(i + 2, C.startPunctuation | C.currency) { return true }
            // [box] [kaomoji]
            if c0Has(C.box), has(i + 1, C.kaomoji) { return true }
            // [lower_acc upper_acc currency numeric start end law] [box]
            if c0Has(C.lowerAccented | C.upperAccented | C.currency | C.numeric | C.startPunctuation | C.endPunctuation | C.law), has(i + 1, C.box) { return true }
            // [box] [end]
            if c0Has(C.box), has(i + 1, C.endPunctuation) { return true }
            // [lower_acc upper_acc] [start end] \w
            if c0Has(C.lowerAccented | C.upperAccented), has(i + 1, C.startPunctuation | C.endPunctuation),
               i + 2 < n, PythonUnicode.isWordCharacter(t[i + 2]) { return true }
            // [Œœ][^A-Za-z]
            if v0 == 0x152 || v0 == 0x153, i + 1 < n, !asciiLetter(i + 1) { return true }
            // [upper_acc]°
            if c0Has(C.upperAccented), at(i + 1) == 0xB0 { return true }
            // [ÂÃÎÐ][€œŠš¢£Ÿž\xa0\xad®©°·»{start}{end}–—´]
            if v0 == 0xC2 || v0 == 0xC3 || v0 == 0xCE || v0 == 0xD0,
               isIn(i + 1, afterCapitalA) || has(i + 1, C.startPunctuation | C.endPunctuation) { return true }
            // × [²³]
            if v0 == 0xD7, at(i + 1) == 0xB2 || at(i + 1) == 0xB3 { return true }
            // [ØÙ] [common currency bad numeric start ŸŠ®°µ»] [ØÙ] [same]
            if v0 == 0xD8 || v0 == 0xD9, arabicFollower(t, classes, i + 1),
               at(i + 2) == 0xD8 || at(i + 2) == 0xD9, arabicFollower(t, classes, i + 3) { return true }
            // à[²µ¹¼½¾]
            if v0 == 0xE0, isIn(i + 1, [0xB2, 0xB5, 0xB9, 0xBC, 0xBD, 0xBE]) { return true }
            // √[±∂†≠®™´≤≥¥µø]
            if v0 == 0x221A, isIn(i + 1, [0xB1, 0x2202, 0x2020, 0x2260, 0xAE, 0x2122, 0xB4, 0x2264, 0x2265, 0xA5, 0xB5, 0xF8]) {
                return true
            }
            // ≈[°¢]
            if v0 == 0x2248, at(i + 1) == 0xB0 || at(i + 1) == 0xA2 { return true }
            if v0 == 0x201A {
                // ‚Ä[ìîïòôúùû†°¢π]
                if at(i + 1) == 0xC4, isIn(i + 2, [0xEC, 0xEE, 0xEF, 0xF2, 0xF4, 0xFA, 0xF9, 0xFB, 0x2020, 0xB0, 0xA2, 0x3C0]) {
                    return true
                }
                // ‚[âó][àä°ê]
                if at(i + 1) == 0xE2 || at(i + 1) == 0xF3, isIn(i + 2, [0xE0, 0xE4, 0xB0, 0xEA]) { return true }
            }
            // вЂ
            if v0 == 0x432, at(i + 1) == 0x402 { return true }
            // [ВГРС][c1 bad start end currency °µ][ВГРС]
            if cyrillicVGRS.contains(v0), has(i + 1, C.c1 | C.bad | C.startPunctuation | C.endPunctuation | C.currency)
                || at(i + 1) == 0xB0 || at(i + 1) == 0xB5, i + 2 < n, cyrillicVGRS.contains(t[i + 2].value) {
                return true
            }
            // ГўВЂВ.[A-Za-z ]
            if v0 == 0x413, at(i + 1) == 0x45E, at(i + 2) == 0x412, at(i + 3) == 0x402, at(i + 4) == 0x412,
               i + 5 < n, t[i + 5] != "\n", asciiLetter(i + 6) || at(i + 6) == 0x20 { return true }
            // Ã[\xa0¡]
            if v0 == 0xC3, at(i + 1) == 0xA0 || at(i + 1) == 0xA1 { return true }
            // [a-z]\s?[ÃÂ][ ]
            if asciiLower(i) {
                if isIn(i + 1, [0xC3, 0xC2]), at(i + 2) == 0x20 { return true }
                if i + 1 < n, PythonUnicode.isSpace(t[i + 1]), isIn(i + 2, [0xC3, 0xC2]), at(i + 3) == 0x20 { return true }
            }
            // ^[ÃÂ][ ]
            if i == 0, v0 == 0xC3 || v0 == 0xC2, at(1) == 0x20 { return true }
            // [a-z.,?!{end}] Â [ {start}{end}]
            if asciiLower(i) || v0 == 0x2E || v0 == 0x2C || v0 == 0x3F || v0 == 0x21 || c0Has(C.endPunctuation),
               at(i + 1) == 0xC2, at(i + 2) == 0x20 || has(i + 2, C.startPunctuation | C.endPunctuation) { return true }
            // β€[™\xa0Ά\xad®°]
            if v0 == 0x3B2, at(i + 1) == 0x20AC, isIn(i + 2, [0x2122, 0xA0, 0x386, 0xAD, 0xAE, 0xB0]) { return true }
            // [ΒΓΞΟ][c1 bad start end currency °][ΒΓΞΟ]
            if greekBGXO.contains(v0), has(i + 1, C.c1 | C.bad | C.startPunctuation | C.endPunctuation | C.currency)
                || at(i + 1) == 0xB0, i + 2 < n, greekBGXO.contains(t[i + 2].value) { return true }
            // ā€
            if v0 == 0x101, at(i + 1) == 0x20AC { return true }
        }
        return false
    }

    /// `€œŠš¢£Ÿž\xa0\xad®©°·»–—´` (the literal part of the class after `[ÂÃÎÐ]`).
    private static let afterCapitalA: [UInt32] = [
        0x20AC, 0x153, 0x160, 0x161, 0xA2, 0xA3, 0x178, 0x17E, 0xA0, 0xAD, 0xAE, 0xA9, 0xB0, 0xB7, 0xBB,
        0x2013, 0x2014, 0xB4,
    ]
    private static let cyrillicVGRS: [UInt32] = [0x412, 0x413, 0x420, 0x421]
    private static let greekBGXO: [UInt32] = [0x392, 0x393, 0x39E, 0x39F]

    /// `[{common}{currency}{bad}{numeric}{start_punctuation}ŸŠ®°µ»]`
    private static func arabicFollower(_ t: [Unicode.Scalar], _ classes: [UInt32], _ i: Int) -> Bool {
        guard i < t.count else { return false }
        if classes[i] & (C.common | C.currency | C.bad | C.numeric | C.startPunctuation) != 0 { return true }
        return [0x178, 0x160, 0xAE, 0xB0, 0xB5, 0xBB].contains(t[i].value)
    }

    /// The matches of ftfy's `UTF8_DETECTOR_RE`,
    /// `(?<![{utf8_continuation_strict}])([{first_of_2}][{cont}]|[{first_of_3}][{cont}]{2}|[{first_of_4}][{cont}]{3})+`,
    /// as half-open ranges, in the order `re.sub` visits them.
    static func utf8MojibakeRuns(_ t: [Unicode.Scalar]) -> [Range<Int>] {
        let n = t.count
        let classes = C.of(t)
        func cont(_ i: Int, _ count: Int) -> Bool {
            guard i + count <= n else { return false }
            for k in i..<(i + count) where classes[k] & C.utf8Continuation == 0 { return false }
            return true
        }
        var runs: [Range<Int>] = []
        var i = 0
        while i < n {
            if i > 0, classes[i - 1] & C.utf8ContinuationStrict != 0 {
                i += 1
                continue
            }
            var end = i
            while end < n {
                let c = classes[end]
                if c & C.utf8FirstOf2 != 0, cont(end + 1, 1) {
                    end += 2
                } else if c & C.utf8FirstOf3 != 0, cont(end + 1, 2) {
                    end += 3
                } else if c & C.utf8FirstOf4 != 0, cont(end + 1, 3) {
                    end += 4
                } else {
                    break
                }
            }
            if end > i {
                runs.append(i..<end)
                i = end
            } else {
                i += 1
            }
        }
        return runs
    }
}
