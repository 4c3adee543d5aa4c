import CLIPTokenizer
import Foundation
import Testing

struct TokenizerTests {
    @Test func emptyPrompt() throws {
        let tokenizer = try CLIPTokenizer.shared()
        let expected: [Int32] = [49406, 49407] + Array(repeating: 0, count: 75)
        #expect(tokenizer.tokenize("") == expected)
        #expect(tokenizer.tokenize("   \t\n ") == expected)
        #expect(tokenizer.encode("").isEmpty)
        let result = tokenizer.tokenization(of: "")
        #expect(result.length == 2)
        #expect(!result.isTruncated)
        #expect(result.droppedTokenCount == 0)
    }

    @Test func specialTokensAndSizes() throws {
        #expect(CLIPTokenizer.startToken == 49406)
        #expect(CLIPTokenizer.endToken == 49407)
        #expect(CLIPTokenizer.vocabularySize == 49408)
        let tokenizer = try CLIPTokenizer.shared()
        #expect(tokenizer.decode([CLIPTokenizer.startToken, CLIPTokenizer.endToken]) == "<start_of_text><end_of_text>")
        // The special tokens written in a prompt are recognised, as in the reference.
        #expect(tokenizer.encode("<start_of_text>a<end_of_text>") == [49406, 320, 49407])
    }

    @Test func truncationAtOtherContextLengths() throws {
        let tokenizer = try CLIPTokenizer.shared()
        let text = "one two three four five six seven eight nine ten"
        let all = tokenizer.encode(text)
        #expect(all.count == 10)
        let cut = tokenizer.tokenize(text, contextLength: 8)
        #expect(cut == [49406] + all.prefix(6) + [49407])
        let exact = tokenizer.tokenization(of: text, contextLength: 12)
        #expect(exact.ids == [49406] + all + [49407])
        #expect(!exact.isTruncated)
        let one = tokenizer.tokenization(of: text, contextLength: 11)
        #expect(one.ids.last == 49407)
        #expect(one.isTruncated)
        #expect(one.droppedTokenCount == 1)
        #expect(tokenizer.tokenize(text, contextLength: 1) == [49407])
    }

    @Test("decode inverts encode on plain ASCII", arguments: [
        "a photo of a cat",
        "man fishing in a boat at sunset",
        "hello world",
        "the quick brown fox jumps over the lazy dog",
        "a rocket launch seen from afar",
    ])
    func decodeRoundTrip(_ text: String) throws {
        let tokenizer = try CLIPTokenizer.shared()
        // Every word ends in </w>, which decodes as a space.
        #expect(tokenizer.decode(tokenizer.encode(text)) == text + " ")
    }

    @Test func decodeSkipsUnknownIDsAndReplacesBrokenUTF8() throws {
        let tokenizer = try CLIPTokenizer.shared()
        #expect(tokenizer.decode([-1, 49408, 1_000_000]) == "")
        // Id 0 is "!" (padding decodes like that in the reference too).
        #expect(tokenizer.decode([0]) == "!")
        // Id 127 is the lone byte 0xC3 ("Ã" in the byte table): invalid UTF-8 on its own.
        #expect(tokenizer.decode([127]) == "\u{FFFD}")
        #expect(tokenizer.decode(tokenizer.encode("é")) == "é ")
    }

    @Test func concurrentUseAgreesWithSerialUse() async throws {
        let tokenizer = try CLIPTokenizer.shared()
        let texts = (0..<64).map { "prompt number \($0) with words like café, naïve and 😀" }
        let serial = texts.map { tokenizer.tokenize($0) }
        let parallel = await withTaskGroup(of: (Int, [Int32]).self) { group in
            for (i, text) in texts.enumerated() {
                group.addTask { (i, tokenizer.tokenize(text)) }
            }
            var results = [[Int32]](repeating: [], count: texts.count)
            for await (i, ids) in group { results[i] = ids }
            return results
        }
        #expect(parallel == serial)
    }

    @Test func sharedInstanceAndInitAgree() throws {
        let a = try CLIPTokenizer()
        let b = try CLIPTokenizer.shared()
        let c = try CLIPTokenizer(vocabularyGzip: try CLIPTokenizer.bundledVocabularyURL())
        for text in goldenPrompts {
            #expect(a.tokenize(text) == b.tokenize(text))
            #expect(c.tokenize(text) == b.tokenize(text))
        }
    }
}
