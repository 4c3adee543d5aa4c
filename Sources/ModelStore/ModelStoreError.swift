import Weights

/// What can go wrong installing, listing or removing models; each case reads as a full message.
public enum ModelStoreError: Error, Sendable, CustomStringConvertible, Equatable {
    /// The network or server could not be reached at all.
    case unreachable(url: String, reason: String, manualHint: String)
    /// The connection broke mid-transfer; the partial file is kept for resuming.
    case interrupted(url: String, received: Int64, reason: String)
    /// The server answered with an error status.
    case httpStatus(url: String, status: Int)
    /// The downloaded bytes do not hash to what the server published.
    case hashMismatch(expected: String, actual: String)
    /// The server did not publish a SHA-256 for the file (and none was given).
    case noPublishedHash(url: String)
    /// The file's keys and shapes do not fit the preset or configuration.
    case notThisModel(String)
    /// 401/403: the repository wants a token, or the one sent is not good for it.
    case accessDenied(url: String, status: Int, tokenSent: Bool)
    /// The models directory's filesystem has no room for the file.
    case insufficientSpace(path: String, needed: Int64, available: Int64)
    /// Another process is installing, converting or removing the same model.
    case busy(name: String, holder: Int32?)
    case alreadyInstalled(name: String, path: String)
    case notInstalled(name: String)
    case invalidName(String)
    case invalidArgument(String)
    case io(String)

    public var description: String {
        switch self {
        case let .unreachable(url, reason, hint):
            return "cannot reach \(url): \(reason). Check the network (HTTPS_PROXY/https_proxy for a proxy, --base-url or HF_ENDPOINT for a mirror), or download the file yourself and install it with: \(hint)"
        case let .interrupted(url, received, reason):
            return "the download of \(url) was interrupted after \(received) bytes (\(reason)); run the same command again to resume"
        case let .httpStatus(url, status):
            let meaning = status == 404 ? " (not found: check the preset, --base-url or HF_ENDPOINT)"
                : status >= 500 ? " (server error; try again later)" : ""
            return "\(url): the server answered HTTP \(status)\(meaning)"
        case let .hashMismatch(expected, actual):
            return "the downloaded file is corrupt or not the published one: its SHA-256 is \(actual), the server publishes \(expected); it was deleted"
        case let .noPublishedHash(url):
            return "\(url): the server publishes no SHA-256 (no X-Linked-Etag or ETag with a 64-digit hash), so the download cannot be verified; pass --sha256 HASH"
        case let .notThisModel(report):
            return "the file's tensors do not fit the model: \(report)"
        case let .accessDenied(url, status, tokenSent):
            let advice = tokenSent
                ? "the token in HF_TOKEN (or the Hugging Face token file) is not valid for this repository"
                : "the repository needs a token: set HF_TOKEN, or log in with `huggingface-cli login` (its token file is read)"
            return "\(url): the server answered HTTP \(status) (access denied); \(advice)"
        case let .insufficientSpace(path, needed, available):
            return "not enough space in \(path): \(humanBytes(Int(needed))) needed, \(humanBytes(Int(available))) free; free some space or choose another --models-dir"
        case let .busy(name, holder):
            let who = holder.map { " (process \($0))" } ?? ""
            return "another dynamicrafter command\(who) is installing, converting or removing the model \(name); wait for it to finish"
        case let .alreadyInstalled(name, path):
            return "a model named \(name) is already installed at \(path); remove it first (dynamicrafter models remove \(name))"
        case let .notInstalled(name):
            return "no model named \(name) is installed"
        case let .invalidName(name):
            return "'\(name)' is not a valid model name (letters, digits, '.', '_', '-'; not starting with '.')"
        case let .invalidArgument(text), let .io(text):
            return text
        }
    }
}
