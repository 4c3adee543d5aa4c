import Synchronization

/// Byte-level BPE over vocabulary ids, as open_clip's `SimpleTokenizer.bpe`: the word's bytes
/// become one-byte symbols, the last carrying `</w>`; then, repeatedly, the adjacent pair with
/// the lowest merge rank is merged everywhere in the word (left to right) until no adjacent
/// pair has a rank or one symbol is left. Results are cached per piece.
final class BytePairEncoder: Sendable {
    let vocabulary: Vocabulary
    private let cache = Mutex<[[UInt8]: [Int32]]>([:])
    /// The cache is dropped when it reaches this many pieces (it is only a speed-up).
    private let cacheLimit = 100_000

    init(vocabulary: Vocabulary) {
        self.vocabulary = vocabulary
    }

    /// The ids of one pre-tokenized piece, given as UTF-8 bytes.
    func encode(piece bytes: [UInt8]) -> [Int32] {
        if bytes.elementsEqual("<start_of_text>".utf8) { return [CLIPTokenizer.startToken] }
        if bytes.elementsEqual("<end_of_text>".utf8) { return [CLIPTokenizer.endToken] }
        if let cached = cache.withLock({ $0[bytes] }) { return cached }
        let ids = merge(bytes)
        cache.withLock { cache in
            if cache.count >= cacheLimit { cache.removeAll(keepingCapacity: true) }
            cache[bytes] = ids
        }
        return ids
    }

    private func merge(_ bytes: [UInt8]) -> [Int32] {
        guard let last = bytes.last else { return [] }
        var word = bytes.map { vocabulary.byteID[Int($0)] }
        word[word.count - 1] = vocabulary.byteID[Int(last)] + 256
        let ranks = vocabulary.ranks
        var next: [Int32] = []
        next.reserveCapacity(word.count)
        while word.count > 1 {
            var bestRank = Int32.max
            for k in 0..<(word.count - 1) {
                if let rank = ranks[Self.key(word[k], word[k + 1])], rank < bestRank { bestRank = rank }
            }
            guard bestRank != .max else { break }
            let merged = 512 + bestRank
            // The pair with that rank (ranks are unique, so one pair has it).
            var first: Int32 = -1
            var second: Int32 = -1
            for k in 0..<(word.count - 1) where ranks[Self.key(word[k], word[k + 1])] == bestRank {
                first = word[k]
                second = word[k + 1]
                break
            }
            next.removeAll(keepingCapacity: true)
            var k = 0
            while k < word.count {
                if k + 1 < word.count, word[k] == first, word[k + 1] == second {
                    next.append(merged)
                    k += 2
                } else {
                    next.append(word[k])
                    k += 1
                }
            }
            swap(&word, &next)
        }
        return word
    }

    @inline(__always)
    private static func key(_ left: Int32, _ right: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
    }
}
