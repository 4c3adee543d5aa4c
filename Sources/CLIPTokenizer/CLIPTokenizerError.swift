/// Why the tokenizer's vocabulary could not be loaded.
///
/// Every case names the file and says what is wrong in words a person can act on.
public enum CLIPTokenizerError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No file at that path (or the bundled resource is missing from the build).
    case vocabularyNotFound(path: String)
    /// The file exists but could not be read.
    case vocabularyUnreadable(path: String, reason: String)
    /// The file is not a complete, intact gzip stream.
    case vocabularyDamaged(path: String, reason: String)
    /// The file decompresses but is not a CLIP BPE merges list of the expected shape.
    case vocabularyInvalid(path: String, reason: String)

    public var path: String {
        switch self {
        case .vocabularyNotFound(let path), .vocabularyUnreadable(let path, _),
             .vocabularyDamaged(let path, _), .vocabularyInvalid(let path, _):
            return path
        }
    }

    public var description: String {
        switch self {
        case .vocabularyNotFound(let path):
            return "\(path): the CLIP BPE vocabulary (bpe_simple_vocab_16e6.txt.gz) is missing"
        case .vocabularyUnreadable(let path, let reason):
            return "\(path): the CLIP BPE vocabulary could not be read: \(reason)"
        case .vocabularyDamaged(let path, let reason):
            return "\(path): the CLIP BPE vocabulary is damaged: \(reason); reinstall it (bpe_simple_vocab_16e6.txt.gz from open_clip)"
        case .vocabularyInvalid(let path, let reason):
            return "\(path): not a CLIP BPE vocabulary: \(reason)"
        }
    }
}
