import Testing
import AnimationService

@Suite("quoting caller input")
struct QuotedInputTests {
    @Test("control characters are escaped, not dropped; long text is cut at 64 characters")
    func escapesAndShortens() {
        #expect(QuotedInput.quote("demo") == "demo")
        #expect(QuotedInput.quote("a\nb\tc\r\\") == "a\\nb\\tc\\r\\\\")
        #expect(QuotedInput.quote("\u{1B}[0m\u{7F}\u{85}") == "\\u{1B}[0m\\u{7F}\\u{85}")
        // Made only of control characters, it still shows what it was (not '').
        #expect(QuotedInput.quote("\u{01}\u{02}") == "\\u{1}\\u{2}")
        let long = String(repeating: "x", count: 1 << 20)
        let quoted = QuotedInput.quote(long)
        #expect(quoted == String(repeating: "x", count: 64) + "…")
        // An escape is never split by the cut.
        let escapes = QuotedInput.quote(String(repeating: "\n", count: 100))
        #expect(escapes == String(repeating: "\\n", count: 32) + "…")
        #expect(!QuotedInput.quote(String(repeating: "é\u{2028}", count: 50)).unicodeScalars.contains { $0.value == 0x2028 })
    }
}
