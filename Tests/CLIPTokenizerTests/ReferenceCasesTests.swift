import CLIPTokenizer
import Foundation
import Testing

/// Texts run through the reference (open_clip 2.22.0 with ftfy 6.3.1 and regex) by
/// `scripts/make_reference_cases.py`, with every intermediate result: `ftfy.fix_text`, the
/// cleaned lower-cased text, the pre-tokenizer pieces and the ids (without padding).
///
/// Set CLIP_TOKENIZER_REFERENCE_CASES to the path of another such file to check it too.
struct ReferenceCasesTests {
    struct Case: Decodable {
        let text: String
        let fixed: String
        let normalized: String
        let pieces: [String]
        let ids: [Int32]
    }

    static func load(_ path: String) throws -> [Case] {
        try JSONDecoder().decode([Case].self, from: Data(contentsOf: URL(fileURLWithPath: path)))
    }

    static func check(_ cases: [Case], file: String) throws {
        let tokenizer = try CLIPTokenizer.shared()
        var failures = 0
        for (index, c) in cases.enumerated() {
            let fixed = CLIPTokenizer.fixText(c.text)
            let normalized = CLIPTokenizer.normalize(c.text)
            let pieces = CLIPTokenizer.preTokenize(c.text)
            var ids = tokenizer.tokenize(c.text)
            while ids.last == 0 { ids.removeLast() }
            let ok = fixed.scalarValues == c.fixed.scalarValues && normalized.scalarValues == c.normalized.scalarValues
                && pieces.map(\.scalarValues) == c.pieces.map(\.scalarValues) && ids == c.ids
            if !ok {
                failures += 1
                if failures <= 10 {
                    Issue.record("""
                        \(file) case \(index): \(c.text.debugDescription)
                          fixed      \(fixed.debugDescription)
                          expected   \(c.fixed.debugDescription)
                          normalized \(normalized.debugDescription)
                          expected   \(c.normalized.debugDescription)
                          ids        \(ids)
                          expected   \(c.ids)
                        """)
                }
            }
        }
        #expect(failures == 0, "\(failures) of \(cases.count) cases differ in \(file)")
    }

    @Test func bundledReferenceCases() throws {
        let cases = try Self.load(try TokenizerTestFiles.fixture("reference_cases.json"))
        #expect(cases.count > 100)
        try Self.check(cases, file: "reference_cases.json")
    }

    @Test(.enabled(if: ProcessInfo.processInfo.environment["CLIP_TOKENIZER_REFERENCE_CASES"] != nil,
                   "opt-in: set CLIP_TOKENIZER_REFERENCE_CASES to extra case files (colon-separated)"))
    func extraReferenceCases() throws {
        for path in (ProcessInfo.processInfo.environment["CLIP_TOKENIZER_REFERENCE_CASES"] ?? "").split(separator: ":") {
            try Self.check(try Self.load(String(path)), file: String(path))
        }
    }
}
