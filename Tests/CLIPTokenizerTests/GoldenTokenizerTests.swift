import CLIPTokenizer
import Foundation
import TensorCore
import TensorStorage
import Testing
import Weights

/// The 12 prompts of `tokenizer.safetensors` (shared/reference/golden/common), in its order,
/// exactly as in the reference manifest.
let goldenPrompts: [String] = [
    "",
    "man fishing in a boat at sunset",
    "Hello, World!!! What's up?? (test) [brackets] {braces} -- ...",
    "numbers 1234567890 and 3.14159, 1,000,000 and 2nd 3rd",
    "Tom &amp; Jerry &lt;3 &quot;cartoon&quot; &#39;classic&#39; &amp;amp;",
    "Caf\u{E9} na\u{EF}ve r\u{E9}sum\u{E9}, Cr\u{E8}me Br\u{FB}l\u{E9}e \u{2013} \u{201C}smart quotes\u{201D} and \u{2018}single\u{2019} \u{2026} \u{FB01}ne ligature",
    "emoji party \u{1F389}\u{1F43B}\u{1F525} with \u{1F469}\u{200D}\u{1F469}\u{200D}\u{1F467} family and \u{2764}\u{FE0F}",
    "\u{4E00}\u{53EA}\u{718A}\u{5728}\u{96EA}\u{4E2D}\u{5F39}\u{5409}\u{4ED6} and \u{65E5}\u{672C}\u{8A9E}\u{306E}\u{30C6}\u{30AD}\u{30B9}\u{30C8} \u{D55C}\u{AD6D}\u{C5B4}",
    "MiXeD CaSe TeXt ALL CAPS lower   multiple    spaces\tand\nnewlines",
    "\u{FF26}\u{FF35}\u{FF2C}\u{FF2C}\u{FF37}\u{FF29}\u{FF24}\u{FF34}\u{FF28} \u{FF54}\u{FF45}\u{FF58}\u{FF54} and caf\u{C3}\u{A9} mojibake",
    "don't can't we'll they're I'm you've she'd it's",
    "a very long prompt that keeps going a very long prompt that keeps going a very long prompt that keeps going a very long prompt that keeps going a very long prompt that keeps going a very long prompt that keeps going a very long prompt that keeps going a very long prompt that keeps going a very long prompt that keeps going a very long prompt that keeps going a very long prompt that keeps going a very long prompt that keeps going the end",
]

/// What open_clip's `decode` gives for each golden row (from the manifest), padding excluded.
let goldenDecoded: [String] = [
    "",
    "man fishing in a boat at sunset ",
    "hello , world !!! what 's up ?? ( test ) [ brackets ] { braces } -- ... ",
    "numbers 1 2 3 4 5 6 7 8 9 0 and 3 . 1 4 1 5 9 , 1 , 0 0 0 , 0 0 0 and 2 nd 3 rd ",
    "tom & jerry < 3 \" cartoon \" ' classic ' & ",
    "caf\u{E9} na\u{EF}ve r\u{E9}sum\u{E9} , cr\u{E8}me br\u{FB}l\u{E9}e \u{2013} \" smart quotes \" and 's ingle ' \u{2026} fine ligature ",
    "emoji party \u{1F389}\u{1F43B}\u{1F525} with \u{1F469}\u{200D}\u{1F469}\u{200D}\u{1F467} family and \u{2764}\u{FE0F} ",
    "\u{4E00}\u{53EA}\u{718A}\u{5728}\u{96EA}\u{4E2D}\u{5F39}\u{5409}\u{4ED6} and \u{65E5}\u{672C}\u{8A9E}\u{306E}\u{30C6}\u{30AD}\u{30B9}\u{30C8} \u{D55C}\u{AD6D}\u{C5B4} ",
    "mixed case text all caps lower multiple spaces and newlines ",
    "fullwidth text and caf\u{E9} mojibake ",
    "don 't can 't we 'll they 're i 'm you 've she 'd it 's ",
    "a very long prompt that keeps going a very long prompt that keeps going a very long prompt that keeps going a very long prompt that keeps going a very long prompt that keeps going a very long prompt that keeps going a very long prompt that keeps going a very long prompt that keeps going a very long prompt that keeps going a very long prompt that keeps going a very long prompt that ",
]

struct GoldenTokenizerTests {
    /// `ids` [12, 77] and `lengths` [12] of the golden file, as Int64.
    static func golden() throws -> (ids: [[Int64]], lengths: [Int64]) {
        let archive = try WeightFile.open(try TokenizerTestFiles.fixture("tokenizer.safetensors"))
        let ids = try archive.tensor(named: "ids")
        let lengths = try archive.tensor(named: "lengths")
        #expect(ids.dtype == .i64)
        #expect(ids.shape == [goldenPrompts.count, 77])
        #expect(lengths.dtype == .i64)
        #expect(lengths.shape == [goldenPrompts.count])
        func values(_ t: TensorData) -> [Int64] {
            (0..<t.elementCount).map { Int64(littleEndian: t.bytes.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self)) }
        }
        let flat = values(ids)
        let rows = (0..<goldenPrompts.count).map { Array(flat[($0 * 77)..<(($0 + 1) * 77)]) }
        return (rows, values(lengths))
    }

    @Test("every golden prompt tokenizes to the reference ids", arguments: 0..<12)
    func goldenRow(_ row: Int) throws {
        let tokenizer = try CLIPTokenizer.shared()
        let golden = try Self.golden()
        let ids = tokenizer.tokenize(goldenPrompts[row])
        #expect(ids.map(Int64.init) == golden.ids[row], "prompt \(row): \(goldenPrompts[row].debugDescription)")
        let result = tokenizer.tokenization(of: goldenPrompts[row])
        #expect(Int64(result.length) == golden.lengths[row])
        #expect(result.ids == ids)
    }

    @Test("decoding the golden rows gives the reference's decoded text")
    func goldenDecode() throws {
        let tokenizer = try CLIPTokenizer.shared()
        let golden = try Self.golden()
        for row in 0..<goldenPrompts.count {
            let ids = golden.ids[row].prefix(Int(golden.lengths[row])).dropFirst().filter { $0 != 49407 }.map { Int32($0) }
            #expect(tokenizer.decode(ids).scalarValues == goldenDecoded[row].scalarValues, "row \(row)")
        }
    }

    @Test("the long prompt is cut with the end token at position 76")
    func truncation() throws {
        let tokenizer = try CLIPTokenizer.shared()
        let result = tokenizer.tokenization(of: goldenPrompts[11])
        #expect(result.ids.count == 77)
        #expect(result.ids[0] == CLIPTokenizer.startToken)
        #expect(result.ids[76] == CLIPTokenizer.endToken)
        #expect(!result.ids.contains(0))
        #expect(result.length == 77)
        #expect(result.isTruncated)
        let all = tokenizer.encode(goldenPrompts[11])
        #expect(result.untruncatedLength == all.count + 2)
        #expect(result.droppedTokenCount == all.count + 2 - 77)
        #expect(Array(result.ids[1..<76]) == Array(all.prefix(75)))
    }
}
