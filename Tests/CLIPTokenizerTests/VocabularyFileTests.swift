import CLIPTokenizer
import CZlib
import Foundation
import Testing

/// Loading the vocabulary file, and the errors for damaged or missing ones.
struct VocabularyFileTests {
    static func bundledBytes() throws -> [UInt8] {
        [UInt8](try Data(contentsOf: try CLIPTokenizer.bundledVocabularyURL()))
    }

    /// gzip-compresses `bytes` with zlib.
    static func gzip(_ bytes: [UInt8]) -> [UInt8] {
        var stream = z_stream()
        #expect(deflateInit2_(&stream, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION,
                              Int32(MemoryLayout<z_stream>.size)) == Z_OK)
        defer { deflateEnd(&stream) }
        var input = bytes
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, uLong(bytes.count))) + 64)
        var produced = 0
        input.withUnsafeMutableBufferPointer { inBuffer in
            output.withUnsafeMutableBufferPointer { outBuffer in
                stream.next_in = inBuffer.baseAddress
                stream.avail_in = uInt(inBuffer.count)
                stream.next_out = outBuffer.baseAddress
                stream.avail_out = uInt(outBuffer.count)
                #expect(deflate(&stream, Z_FINISH) == Z_STREAM_END)
                produced = outBuffer.count - Int(stream.avail_out)
            }
        }
        return Array(output[..<produced])
    }

    private func load(_ bytes: [UInt8]) throws -> Result<CLIPTokenizer, CLIPTokenizerError> {
        try TokenizerTestFiles.withTemporaryDirectory { dir in
            let url = dir.appendingPathComponent("vocab.txt.gz")
            try Data(bytes).write(to: url)
            do {
                return .success(try CLIPTokenizer(vocabularyGzip: url))
            } catch let error as CLIPTokenizerError {
                return .failure(error)
            }
        }
    }

    private func expectFailure(_ result: Result<CLIPTokenizer, CLIPTokenizerError>,
                               _ matches: (CLIPTokenizerError) -> Bool, sourceLocation: SourceLocation = #_sourceLocation) {
        switch result {
        case .success:
            Issue.record("a bad vocabulary was accepted", sourceLocation: sourceLocation)
        case .failure(let error):
            #expect(matches(error), "unexpected error: \(error)", sourceLocation: sourceLocation)
            #expect(error.description.contains("vocab.txt.gz"), sourceLocation: sourceLocation)
        }
    }

    @Test func missingFile() throws {
        let url = URL(fileURLWithPath: "/nonexistent/dir/bpe_simple_vocab_16e6.txt.gz")
        #expect(throws: CLIPTokenizerError.vocabularyNotFound(path: url.path)) {
            try CLIPTokenizer(vocabularyGzip: url)
        }
        let error = CLIPTokenizerError.vocabularyNotFound(path: url.path)
        #expect(error.description.contains("missing"))
    }

    @Test func directoryInsteadOfFile() throws {
        try TokenizerTestFiles.withTemporaryDirectory { dir in
            #expect {
                try CLIPTokenizer(vocabularyGzip: dir)
            } throws: { error in
                if case .vocabularyUnreadable = error as? CLIPTokenizerError { return true }
                return false
            }
        }
    }

    @Test func truncatedGzip() throws {
        let bytes = try Self.bundledBytes()
        expectFailure(try load(Array(bytes.prefix(bytes.count / 2)))) {
            if case .vocabularyDamaged(_, let reason) = $0 { return reason.contains("truncated") || reason.contains("damaged") }
            return false
        }
    }

    @Test func corruptedGzip() throws {
        var bytes = try Self.bundledBytes()
        for i in stride(from: 1000, to: 1100, by: 1) { bytes[i] ^= 0x5A }
        expectFailure(try load(bytes)) {
            if case .vocabularyDamaged = $0 { return true }
            return false
        }
    }

    @Test func notGzip() throws {
        expectFailure(try load(Array("\"bpe_simple_vocab_16e6.txt#version: 0.2\ni n\n".utf8))) {
            if case .vocabularyDamaged(_, let reason) = $0 { return reason.contains("not a gzip") }
            return false
        }
    }

    @Test func wrongContent() throws {
        expectFailure(try load(Self.gzip(Array("hello\nworld\n".utf8)))) {
            if case .vocabularyInvalid(_, let reason) = $0 { return reason.contains("header") }
            return false
        }
        expectFailure(try load(Self.gzip(Array("\"bpe_simple_vocab_16e6.txt#version: 0.2\ni n\nt h\n".utf8)))) {
            if case .vocabularyInvalid(_, let reason) = $0 { return reason.contains("merge lines") }
            return false
        }
    }

    @Test func malformedMergeLine() throws {
        let text = try Self.decompressedBundled()
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        lines[100] = "nospacehere"
        expectFailure(try load(Self.gzip(Array(lines.joined(separator: "\n").utf8)))) {
            if case .vocabularyInvalid(_, let reason) = $0 { return reason.contains("line 101") }
            return false
        }
    }

    @Test func reloadsFromAReCompressedCopy() throws {
        // The same text compressed differently loads and tokenizes identically.
        let text = try Self.decompressedBundled()
        let tokenizer = try load(Self.gzip(Array(text.utf8))).get()
        let shared = try CLIPTokenizer.shared()
        for prompt in goldenPrompts {
            #expect(tokenizer.tokenize(prompt) == shared.tokenize(prompt))
        }
    }

    static func decompressedBundled() throws -> String {
        let compressed = try bundledBytes()
        var stream = z_stream()
        #expect(inflateInit2_(&stream, 16 + MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK)
        defer { inflateEnd(&stream) }
        var input = compressed
        var output = [UInt8](repeating: 0, count: 4 << 20)
        var produced = 0
        input.withUnsafeMutableBufferPointer { inBuffer in
            output.withUnsafeMutableBufferPointer { outBuffer in
                stream.next_in = inBuffer.baseAddress
                stream.avail_in = uInt(inBuffer.count)
                stream.next_out = outBuffer.baseAddress
                stream.avail_out = uInt(outBuffer.count)
                #expect(inflate(&stream, Z_FINISH) == Z_STREAM_END)
                produced = outBuffer.count - Int(stream.avail_out)
            }
        }
        return String(decoding: output[..<produced], as: UTF8.self)
    }

    @Test func loadTime() throws {
        let url = try CLIPTokenizer.bundledVocabularyURL()
        let clock = ContinuousClock()
        let elapsed = try clock.measure { _ = try CLIPTokenizer(vocabularyGzip: url) }
        // About 50 ms of CPU in a release build; the bounds leave room for a busy machine and
        // for unoptimised builds.
        #if DEBUG
        #expect(elapsed < .seconds(10), "loading took \(elapsed)")
        #else
        #expect(elapsed < .seconds(1), "loading took \(elapsed)")
        #endif
    }
}
