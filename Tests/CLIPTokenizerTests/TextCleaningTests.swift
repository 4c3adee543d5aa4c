import CLIPTokenizer
import Testing

/// The ftfy pieces and the cleaning steps, each on its own.
struct TextCleaningTests {
    private func fixed(_ text: String) -> [UInt32] { CLIPTokenizer.fixText(text).scalarValues }

    @Test("mojibake of UTF-8 read as Windows-1252 or Latin-1 is repaired", arguments: [
        ("caf\u{C3}\u{A9}", "caf\u{E9}"),
        ("na\u{C3}\u{AF}ve r\u{C3}\u{A9}sum\u{C3}\u{A9}", "na\u{EF}ve r\u{E9}sum\u{E9}"),
        ("\u{E2}\u{80}\u{9C}quoted\u{E2}\u{80}\u{9D}", "\"quoted\""),            // latin-1 reading, quotes then uncurled
        ("\u{E2}\u{20AC}\u{153}smart\u{E2}\u{20AC}\u{9D}", "\"smart\""),         // windows-1252 reading
        ("\u{E2}\u{153}\u{201D} No problems", "\u{2714} No problems"),          // ftfy's own example
        ("s\u{C3}\u{B3}", "s\u{F3}"),
        ("voil\u{C3} le travail", "voil\u{E0} le travail"),                     // a lost U+00A0 restored
        ("\u{C3}\u{A0} la mode", "\u{E0} la mode"),
        ("Cr\u{C3}\u{A8}me Br\u{C3}\u{BB}l\u{C3}\u{A9}e", "Cr\u{E8}me Br\u{FB}l\u{E9}e"),
        ("\u{C3}\u{A9}t\u{C3}\u{A9}", "\u{E9}t\u{E9}"),
        // Mojibake of mojibake is undone one layer at a time, as far as ftfy gets ("Ã¢â€žÂ¢" is a
        // twice-garbled "™"; ftfy 6.3.1 itself stops at "â\"¢").
        ("\u{C3}\u{A2}\u{E2}\u{20AC}\u{17E}\u{C2}\u{A2}", "\u{E2}\"\u{A2}"),
        ("\u{C3}\u{83}\u{C2}\u{A9}", "\u{E9}"),
    ])
    func mojibake(_ input: String, _ expected: String) {
        #expect(fixed(input) == expected.scalarValues, "\(input.debugDescription)")
    }

    @Test("text that is not mojibake is left alone", arguments: [
        "caf\u{E9} na\u{EF}ve",
        "\u{C3}t\u{E9} \u{C2}",               // Ã and Â on their own are letters
        "Sch\u{F6}ne Gr\u{FC}\u{DF}e",
        "\u{420}\u{443}\u{441}\u{441}\u{43A}\u{438}\u{439} \u{44F}\u{437}\u{44B}\u{43A}",
        "\u{65E5}\u{672C}\u{8A9E} \u{D55C}\u{AD6D}\u{C5B4}",
        "\u{1F469}\u{200D}\u{1F469}\u{200D}\u{1F467} \u{2764}\u{FE0F}",
        "50\u{B0}C \u{B1}2 \u{A3}5 \u{A9} 2024",
        "plain ASCII text",
    ])
    func notMojibake(_ input: String) {
        #expect(fixed(input) == input.scalarValues, "\(input.debugDescription)")
    }

    @Test func curlyQuotes() {
        #expect(CLIPTokenizer.fixText("\u{2018}a\u{2019} \u{201A}b\u{201B} \u{2BC}") == "'a' 'b' '")
        #expect(CLIPTokenizer.fixText("\u{201C}a\u{201D} \u{201E}b\u{201F}") == "\"a\" \"b\"")
    }

    @Test func ligatures() {
        #expect(CLIPTokenizer.fixText("\u{FB01}ne \u{FB02}ow \u{FB00} \u{FB03} \u{FB04} \u{FB06}") == "fine flow ff ffi ffl st")
        #expect(fixed("\u{FB05}") == "\u{17F}t".scalarValues)
        #expect(CLIPTokenizer.fixText("\u{132}ssel \u{1C6}") == "IJssel d\u{17E}")
        // ŉ expands to ʼn, and the modifier apostrophe is then straightened.
        #expect(CLIPTokenizer.fixText("\u{149}") == "'n")
        // æ and œ are letters in their own right and stay.
        #expect(fixed("\u{E6}\u{153}") == [0xE6, 0x153])
    }

    @Test func fullWidth() {
        #expect(CLIPTokenizer.fixText("\u{FF2C}\u{FF2F}\u{FF35}\u{FF24}\u{3000}\u{FF2E}\u{FF2F}\u{FF29}\u{FF33}\u{FF25}\u{FF33}\u{FF01}") == "LOUD NOISES!")
        #expect(CLIPTokenizer.fixText("\u{FF54}\u{FF45}\u{FF58}\u{FF54} \u{FF11}\u{FF12}\u{FF13} \u{FF5E}") == "text 123 ~")
        // Half-width katakana become full width.
        #expect(fixed("\u{FF35}\u{FF80}\u{FF70}\u{FF9D}") == "U\u{30BF}\u{30FC}\u{30F3}".scalarValues)
    }

    @Test func nfcAndControlCharacters() {
        #expect(fixed("cafe\u{301}") == "caf\u{E9}".scalarValues)
        #expect(CLIPTokenizer.fixText("a\u{0}b\u{7}c\u{7F}d\u{FEFF}e\u{206A}f\u{FFFC}g") == "abcdefg")
        #expect(CLIPTokenizer.fixText("\u{1B}[36;44mblue\u{1B}[0m") == "blue")
        #expect(CLIPTokenizer.fixText("a\r\nb\rc\u{2028}d\u{2029}e") == "a\nb\nc\nd\ne")
        // Tabs, form feeds and joiners stay.
        #expect(fixed("a\tb\u{C}c\u{200D}d") == "a\tb\u{C}c\u{200D}d".scalarValues)
    }

    @Test func htmlEntities() {
        // ftfy's own pass, then html.unescape twice: nested escapes come all the way out.
        #expect(CLIPTokenizer.normalize("Tom &amp; Jerry &lt;3 &quot;cartoon&quot; &#39;classic&#39; &amp;amp;")
                == "tom & jerry <3 \"cartoon\" 'classic' &")
        #expect(CLIPTokenizer.normalize("&amp;amp;amp;amp;") == "&")
        #expect(CLIPTokenizer.normalize("caf&eacute; &#x1F600; &#128512; &hellip;") == "caf\u{E9} \u{1F600} \u{1F600} \u{2026}")
        // html.unescape also reads names without a semicolon, by the longest known prefix.
        #expect(CLIPTokenizer.normalize("&notit; &copy 2024 &ampx") == "\u{AC}it; \u{A9} 2024 &x")
        // Unknown names stay as written; numeric references follow HTML5.
        #expect(CLIPTokenizer.normalize("&bogus; &#128; &#0; &#xD800;") == "&bogus; \u{20AC} \u{FFFD} \u{FFFD}")
        // ftfy's all-caps spellings.
        #expect(CLIPTokenizer.fixText("P&EACUTE;REZ") == "P\u{C9}REZ")
        // ftfy leaves entities alone on and after a line with "<" (it looks like HTML);
        // html.unescape then still decodes them, twice.
        #expect(CLIPTokenizer.fixText("&amp;amp;\n<b>&amp;amp;") == "&\n<b>&amp;amp;")
        #expect(CLIPTokenizer.normalize("&amp;amp;amp;\n<b>&amp;amp;amp;") == "& <b>&amp;")
    }

    @Test func whitespaceAndCase() {
        #expect(CLIPTokenizer.normalize("  MiXeD\t\tCaSe \n\n TEXT\u{A0}\u{3000}x  ") == "mixed case text x")
        // Python's lower(): full case mapping and the final sigma.
        #expect(CLIPTokenizer.normalize("\u{3A3}\u{39F}\u{3A6}\u{39F}\u{3A3} \u{3A3}") == "\u{3C3}\u{3BF}\u{3C6}\u{3BF}\u{3C2} \u{3C3}")
        #expect(CLIPTokenizer.normalize("\u{130}stanbul").scalarValues == "i\u{307}stanbul".scalarValues)
    }

    @Test("the pre-tokenizer splits like open_clip's pattern", arguments: [
        ("Hello, World!!! What's up??", ["hello", ",", "world", "!!!", "what", "'s", "up", "??"]),
        ("don't I'm they're we'll you've she'd", ["don", "'t", "i", "'m", "they", "'re", "we", "'ll", "you", "'ve", "she", "'d"]),
        ("\u{2018}single\u{2019}", ["'s", "ingle", "'"]),
        ("2nd 3.14 1,000", ["2", "nd", "3", ".", "1", "4", "1", ",", "0", "0", "0"]),
        ("<start_of_text>x<end_of_text>", ["<start_of_text>", "x", "<end_of_text>"]),
        ("a<start_of_text", ["a", "<", "start", "_", "of", "_", "text"]),
        ("''s !'s", ["''", "s", "!'", "s"]),
        ("\u{1F469}\u{200D}\u{1F469} \u{2764}\u{FE0F}!", ["\u{1F469}\u{200D}\u{1F469}", "\u{2764}\u{FE0F}!"]),
        ("\u{65E5}\u{672C}\u{8A9E}\u{306E}\u{30C6}\u{30AD}\u{30B9}\u{30C8}", ["\u{65E5}\u{672C}\u{8A9E}\u{306E}\u{30C6}\u{30AD}\u{30B9}\u{30C8}"]),
        ("x\u{BD}\u{2163}\u{663}", ["x", "\u{BD}", "\u{2173}", "\u{663}"]),   // numbers N*: one each (Ⅳ lower-cases to ⅳ)
        ("e\u{301}t\u{E9}", ["\u{E9}t\u{E9}"]),
        ("'\u{17F}x", ["'\u{17F}", "x"]),                                   // long s matches 's case-insensitively
    ])
    func preTokenizer(_ text: String, _ expected: [String]) {
        let pieces = CLIPTokenizer.preTokenize(text)
        #expect(pieces.map(\.scalarValues) == expected.map(\.scalarValues), "\(text.debugDescription) → \(pieces)")
    }
}
