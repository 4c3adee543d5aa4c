import Foundation

/// The CLIP BPE tokenizer of open_clip 2.22.0 (`open_clip.tokenize` / `SimpleTokenizer`), which
/// DynamiCrafter's text encoder (OpenCLIP ViT-H-14) uses.
///
/// `tokenize` reproduces `open_clip.tokenize(text)` id for id:
/// 1. `basic_clean`: `ftfy.fix_text` (see `TextFixer`), `html.unescape` twice, strip;
/// 2. `whitespace_clean`: every whitespace run → one space, strip; then lower-case;
/// 3. split into pieces with CLIP's pattern (see `PreTokenizer`);
/// 4. byte-level BPE of each piece with the 48 894 merges of `bpe_simple_vocab_16e6.txt.gz`;
/// 5. `[49406] + ids + [49407]`, cut to the context length with the end token forced into the
///    last position, padded with zeros.
///
/// The tokenizer is an immutable value (its BPE cache is internally synchronised) and can be
/// used from any thread. Loading the vocabulary takes a few tens of milliseconds; use
/// `CLIPTokenizer.shared()` to load it once per process.
public struct CLIPTokenizer: Sendable {
    public static let startToken: Int32 = 49406
    public static let endToken: Int32 = 49407
    /// The context length of every CLIP text tower.
    public static let defaultContextLength = 77
    /// Number of ids (49 408).
    public static let vocabularySize = Vocabulary.size
    /// The resource name of the bundled vocabulary.
    public static let vocabularyFileName = "bpe_simple_vocab_16e6.txt.gz"

    private let encoder: BytePairEncoder

    /// The tokenizer with the vocabulary bundled with this module (shared: the file is read
    /// once per process, see `shared()`).
    public init() throws(CLIPTokenizerError) {
        self = try Self.shared()
    }

    /// A tokenizer with the vocabulary read from a gzip file in the format of open_clip's
    /// `bpe_simple_vocab_16e6.txt.gz`.
    ///
    /// - Throws: `CLIPTokenizerError` when the file is missing, unreadable, not intact gzip, or
    ///   not a merges list with the expected header and at least 48 894 merges.
    public init(vocabularyGzip url: URL) throws(CLIPTokenizerError) {
        encoder = BytePairEncoder(vocabulary: try Vocabulary.load(gzipURL: url))
    }

    /// The process-wide tokenizer with the bundled vocabulary, loaded on first use.
    public static func shared() throws(CLIPTokenizerError) -> CLIPTokenizer {
        try sharedResult.get()
    }

    /// Swift runs a static's initialiser once, thread-safely, on first use.
    private static let sharedResult: Result<CLIPTokenizer, CLIPTokenizerError> = {
        do throws(CLIPTokenizerError) {
            return .success(try CLIPTokenizer(vocabularyGzip: try bundledVocabularyURL()))
        } catch {
            return .failure(error)
        }
    }()

    /// Where the bundled vocabulary is: in the resource bundle next to the executable (an
    /// installed copy), else in the build's resource bundle (`Bundle.module`).
    public static func bundledVocabularyURL() throws(CLIPTokenizerError) -> URL {
        let bundleName = "DynamiCrafter_CLIPTokenizer.resources"
        var candidates: [URL] = [Bundle.main.bundleURL.appendingPathComponent(bundleName)]
        if let executable = Bundle.main.executableURL {
            candidates.append(executable.deletingLastPathComponent().appendingPathComponent(bundleName))
        }
        for directory in candidates {
            let url = directory.appendingPathComponent(vocabularyFileName)
            if FileManager.default.fileExists(atPath: url.path) { return url }
        }
        guard let url = Bundle.module.url(forResource: vocabularyFileName, withExtension: nil) else {
            throw .vocabularyNotFound(path: candidates[0].appendingPathComponent(vocabularyFileName).path)
        }
        return url
    }

    // MARK: Tokenizing

    /// BPE ids of the text, without the start and end tokens (`SimpleTokenizer.encode`).
    public func encode(_ text: String) -> [Int32] {
        var ids: [Int32] = []
        var bytes: [UInt8] = []
        for piece in PreTokenizer.split(Self.normalizedScalars(text)) {
            bytes.removeAll(keepingCapacity: true)
            for scalar in piece { UTF8.encode(scalar) { bytes.append($0) } }
            ids.append(contentsOf: encoder.encode(piece: bytes))
        }
        return ids
    }

    /// `contextLength` ids: start token, the text's ids, end token, then zeros. A text with more
    /// than `contextLength - 2` ids is cut, and the end token replaces the last id kept.
    public func tokenize(_ text: String, contextLength: Int = CLIPTokenizer.defaultContextLength) -> [Int32] {
        tokenization(of: text, contextLength: contextLength).ids
    }

    /// `tokenize` with the facts a caller may want to report (for example that a prompt was cut).
    public func tokenization(of text: String, contextLength: Int = CLIPTokenizer.defaultContextLength) -> Tokenization {
        precondition(contextLength >= 1, "contextLength must be at least 1")
        let body = encode(text)
        var ids = [Self.startToken]
        ids.append(contentsOf: body)
        ids.append(Self.endToken)
        let fullCount = ids.count
        if ids.count > contextLength {
            ids.removeSubrange(contextLength...)
            ids[contextLength - 1] = Self.endToken
        }
        let length = ids.count
        ids.append(contentsOf: repeatElement(0, count: contextLength - length))
        return Tokenization(ids: ids, length: length, untruncatedLength: fullCount)
    }

    /// One tokenized text.
    public struct Tokenization: Sendable, Equatable {
        /// `contextLength` ids, zero padded.
        public let ids: [Int32]
        /// How many leading ids are not padding (start and end tokens included).
        public let length: Int
        /// How many ids the text needed (start and end tokens included) before any cut.
        public let untruncatedLength: Int
        /// Whether the text did not fit and was cut.
        public var isTruncated: Bool { untruncatedLength > ids.count }
        /// How many of the text's own tokens were dropped.
        public var droppedTokenCount: Int { max(untruncatedLength - length, 0) }
    }

    // MARK: Decoding

    /// The text of a list of ids (`SimpleTokenizer.decode`): each id's bytes joined, decoded
    /// as UTF-8 (invalid sequences become U+FFFD), with every `</w>` turned into a space.
    /// Padding zeros decode as `!` like in the reference; ids outside the vocabulary are skipped.
    public func decode(_ ids: [Int32]) -> String {
        var bytes: [UInt8] = []
        for id in ids {
            if let b = encoder.vocabulary.bytes(of: id) { bytes.append(contentsOf: b) }
        }
        return String(decoding: bytes, as: UTF8.self).replacingOccurrences(of: "</w>", with: " ")
    }

    // MARK: Text cleaning

    /// The text as the BPE sees it: `whitespace_clean(basic_clean(text)).lower()`.
    public static func normalize(_ text: String) -> String {
        normalizedScalars(text).string
    }

    /// The pieces `encode` runs BPE on, in order.
    public static func preTokenize(_ text: String) -> [String] {
        PreTokenizer.split(normalizedScalars(text)).map { Array($0).string }
    }

    /// `ftfy.fix_text` as the tokenizer applies it (before HTML unescaping and whitespace
    /// cleaning), for inspection and tests.
    public static func fixText(_ text: String) -> String {
        TextFixer.fixText(Array(text.unicodeScalars)).string
    }

    static func normalizedScalars(_ text: String) -> [Unicode.Scalar] {
        // basic_clean
        var scalars = TextFixer.fixText(Array(text.unicodeScalars))
        scalars = HTMLUnescape.pythonUnescape(HTMLUnescape.pythonUnescape(scalars))
        scalars = PythonUnicode.strip(scalars)
        // whitespace_clean: re.sub(r'\s+', ' ', text).strip()
        var cleaned: [Unicode.Scalar] = []
        cleaned.reserveCapacity(scalars.count)
        var inSpace = false
        for s in scalars {
            if PythonUnicode.isRegexSpace(s) {
                if !inSpace { cleaned.append(" ") }
                inSpace = true
            } else {
                cleaned.append(s)
                inSpace = false
            }
        }
        return PythonUnicode.lower(PythonUnicode.strip(cleaned))
    }
}

extension ArraySlice where Element == Unicode.Scalar {
    var string: String {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: self)
        return String(view)
    }
}
