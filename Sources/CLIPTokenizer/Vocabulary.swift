import Foundation

/// The CLIP byte-level BPE vocabulary, built from `bpe_simple_vocab_16e6.txt.gz` exactly as
/// open_clip's `SimpleTokenizer.__init__` builds it:
///
/// * ids 0...255: the 256 bytes, each as its printable stand-in character (`bytes_to_unicode`),
///   in that table's order (the printable bytes `!`...`~`, `¡`...`¬`, `®`...`ÿ` first, then the
///   others);
/// * ids 256...511: the same characters followed by `</w>` (a byte that ends a word);
/// * ids 512...49405: one per merge, the concatenation of the merge's two symbols, for the
///   48 894 merges on lines 2...48895 of the file (line 1 is a version header);
/// * 49406 `<start_of_text>`, 49407 `<end_of_text>`.
///
/// Symbols are handled as ids: a merge is a pair of ids with a rank (its line order). Loading
/// checks that no two symbols are spelled alike (Python's dict would silently keep the later
/// id), so the symbol a merge of rank r makes is always id 512 + r.
struct Vocabulary: Sendable {
    static let mergeCount = 49152 - 256 - 2  // 48 894, as open_clip slices them
    static let size = 512 + mergeCount + 2     // 49 408
    static let headerPrefix = "\"bpe_simple_vocab_16e6.txt#version:"

    /// Byte value → id of its one-byte symbol (add 256 for the word-final form).
    let byteID: [Int32]
    /// Merge ranks: `(left << 32) | right` → rank; the merged symbol's id is `512 + rank`.
    let ranks: IntegerTable
    /// The raw bytes each id decodes to (`</w>` spelled out), as a flat buffer and offsets.
    let decodedBytes: [UInt8]
    let decodedOffsets: [Int32]

    /// The byte that each of ids 0...255 stands for (the order of `bytes_to_unicode`).
    static let byteOrder: [UInt8] = {
        var printable = Array(UInt8(ascii: "!")...UInt8(ascii: "~")) + Array(UInt8(0xA1)...0xAC) + Array(UInt8(0xAE)...0xFF)
        let rest = (0...255).map(UInt8.init).filter { !printable.contains($0) }
        printable.append(contentsOf: rest)
        return printable
    }()

    /// `bytes_to_unicode()[b]` for each byte b.
    static let byteCharacter: [UInt32] = {
        var table = [UInt32](repeating: 0, count: 256)
        var extra: UInt32 = 0
        for b in 0..<256 {
            let printable = (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b)
            if printable {
                table[b] = UInt32(b)
            } else {
                table[b] = 256 + extra
                extra += 1
            }
        }
        return table
    }()

    enum Problem: Error {
        case invalid(String)
    }

    /// Builds the vocabulary from the decompressed file.
    init(text bytes: [UInt8]) throws(Problem) {
        var byteID = [Int32](repeating: 0, count: 256)
        for (id, b) in Self.byteOrder.enumerated() { byteID[Int(b)] = Int32(id) }
        self.byteID = byteID

        // Split into lines; the first is the header, the next 48 894 the merges used.
        var lines: [Range<Int>] = []
        lines.reserveCapacity(Self.mergeCount + 1)
        bytes.withUnsafeBufferPointer { buffer in
            var start = 0
            while lines.count < Self.mergeCount + 1, start < buffer.count {
                var end = start
                while end < buffer.count, buffer[end] != 0x0A { end += 1 }
                lines.append(start..<end)
                start = end + 1
            }
        }
        guard let header = lines.first, String(decoding: bytes[header], as: UTF8.self).hasPrefix(Self.headerPrefix) else {
            throw .invalid("the first line is not the \(Self.headerPrefix) header")
        }
        guard lines.count == Self.mergeCount + 1 else {
            throw .invalid("it has \(max(lines.count - 1, 0)) merge lines, fewer than the \(Self.mergeCount) the tokenizer uses")
        }

        // Every symbol's spelling (the UTF-8 of its text as Python holds it), flat, by id.
        var spelling = SymbolTable()
        for b in Self.byteOrder { spelling.append(character: Self.byteCharacter[Int(b)], endOfWord: false) }
        for b in Self.byteOrder { spelling.append(character: Self.byteCharacter[Int(b)], endOfWord: true) }

        // Merges: two symbols separated by one space (Python splits on any whitespace, but the
        // file only ever uses one space).
        var merges: [(Range<Int>, Range<Int>)] = []
        merges.reserveCapacity(Self.mergeCount)
        for (index, line) in lines.dropFirst().enumerated() {
            guard let space = bytes[line].firstIndex(of: 0x20), space > line.lowerBound, space < line.upperBound - 1,
                  !bytes[(space + 1)..<line.upperBound].contains(0x20) else {
                throw .invalid("line \(index + 2) is not two symbols separated by a space")
            }
            let left = line.lowerBound..<space
            let right = (space + 1)..<line.upperBound
            merges.append((left, right))
            spelling.append(bytes[left], bytes[right])
        }
        spelling.append(Array("<start_of_text>".utf8)[...], [])
        spelling.append(Array("<end_of_text>".utf8)[...], [])
        guard spelling.count == Self.size else {
            throw .invalid("it makes \(spelling.count) symbols instead of \(Self.size)")
        }

        // Spelling → id, the inverse of the table (Python's `encoder`).
        let index = try spelling.makeIndex()

        var ranks = IntegerTable(capacity: Self.mergeCount)
        for (rank, (left, right)) in merges.enumerated() {
            guard let l = index.id(of: bytes[left], in: spelling), let r = index.id(of: bytes[right], in: spelling) else {
                throw .invalid("merge \(rank + 1) uses a symbol that is not in the vocabulary")
            }
            ranks.updateValue(Int32(rank), forKey: UInt64(UInt32(l)) << 32 | UInt64(UInt32(r)))
        }
        self.ranks = ranks

        // Decoded bytes: every character of the spelling mapped back through bytes_to_unicode.
        var charToByte = [Int16](repeating: -1, count: 0x200)
        for b in 0..<256 { charToByte[Int(Self.byteCharacter[b])] = Int16(b) }
        var decoded: [UInt8] = []
        decoded.reserveCapacity(spelling.bytes.count)
        var offsets: [Int32] = [0]
        offsets.reserveCapacity(Self.size + 1)
        for id in 0..<spelling.count {
            let symbol = spelling[id]
            var k = symbol.startIndex
            while k < symbol.endIndex {
                // The byte characters are U+0021...U+0143: one or two UTF-8 bytes.
                let lead = symbol[k]
                var value = Int(lead)
                if lead >= 0xC0, lead < 0xE0, k + 1 < symbol.endIndex, symbol[k + 1] & 0xC0 == 0x80 {
                    value = Int(lead & 0x1F) << 6 | Int(symbol[k + 1] & 0x3F)
                    k += 2
                } else if lead < 0x80 {
                    k += 1
                } else {
                    value = -1
                }
                guard value >= 0, value < charToByte.count, charToByte[value] >= 0 else {
                    throw .invalid("symbol \(id) (\"\(String(decoding: symbol, as: UTF8.self))\") is not made of the 256 byte characters")
                }
                decoded.append(UInt8(charToByte[value]))
            }
            offsets.append(Int32(decoded.count))
        }
        self.decodedBytes = decoded
        self.decodedOffsets = offsets
    }

    /// Raw bytes for an id (nil when out of range).
    func bytes(of id: Int32) -> ArraySlice<UInt8>? {
        guard id >= 0, Int(id) < decodedOffsets.count - 1 else { return nil }
        return decodedBytes[Int(decodedOffsets[Int(id)])..<Int(decodedOffsets[Int(id) + 1])]
    }

    /// Reads, decompresses and checks a gzip vocabulary file.
    static func load(gzipURL url: URL) throws(CLIPTokenizerError) -> Vocabulary {
        let path = url.path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw .vocabularyNotFound(path: path)
        }
        guard !isDirectory.boolValue else {
            throw .vocabularyUnreadable(path: path, reason: "it is a directory")
        }
        let compressed: [UInt8]
        do {
            compressed = [UInt8](try Data(contentsOf: url))
        } catch {
            throw .vocabularyUnreadable(path: path, reason: "\(error.localizedDescription)")
        }
        let text: [UInt8]
        do {
            text = try Gzip.decompress(compressed)
        } catch {
            switch error {
            case .notGzip: throw .vocabularyDamaged(path: path, reason: "it is not a gzip file")
            case .damaged(let why): throw .vocabularyDamaged(path: path, reason: why)
            case .outOfMemory: throw .vocabularyUnreadable(path: path, reason: "out of memory while decompressing")
            }
        }
        do {
            return try Vocabulary(text: text)
        } catch {
            switch error {
            case .invalid(let why): throw .vocabularyInvalid(path: path, reason: why)
            }
        }
    }
}

/// The spellings of all symbols in one buffer, indexed by id.
private struct SymbolTable {
    private(set) var bytes: [UInt8] = []
    private var offsets: [Int] = [0]

    init() {
        bytes.reserveCapacity(600_000)
        offsets.reserveCapacity(Vocabulary.size + 1)
    }

    var count: Int { offsets.count - 1 }

    subscript(id: Int) -> ArraySlice<UInt8> { bytes[offsets[id]..<offsets[id + 1]] }

    mutating func append(character: UInt32, endOfWord: Bool) {
        bytes.append(contentsOf: String(Unicode.Scalar(character)!).utf8)
        if endOfWord { bytes.append(contentsOf: "</w>".utf8) }
        offsets.append(bytes.count)
    }

    mutating func append(_ first: ArraySlice<UInt8>, _ second: ArraySlice<UInt8>) {
        bytes.append(contentsOf: first)
        bytes.append(contentsOf: second)
        offsets.append(bytes.count)
    }

    /// FNV-1a, 64 bits (never `UInt64.max`, which `IntegerTable` reserves).
    static func hash(_ symbol: ArraySlice<UInt8>) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in symbol { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        return h == .max ? h - 1 : h
    }

    /// Spelling → id. Keyed by a 64-bit hash of the spelling, checked against the spelling on
    /// every hit, with an exact dictionary of spellings in the (never seen) case of a collision.
    struct Index {
        let byHash: IntegerTable
        let exact: [ArraySlice<UInt8>: Int32]?

        func id(of symbol: ArraySlice<UInt8>, in table: SymbolTable) -> Int32? {
            if let exact { return exact[symbol] }
            guard let id = byHash[SymbolTable.hash(symbol)], table[Int(id)].elementsEqual(symbol) else { return nil }
            return id
        }
    }

    func makeIndex() throws(Vocabulary.Problem) -> Index {
        var byHash = IntegerTable(capacity: count)
        var collided = false
        for id in 0..<count {
            let symbol = self[id]
            if let other = byHash.updateValue(Int32(id), forKey: Self.hash(symbol)) {
                if self[Int(other)].elementsEqual(symbol) {
                    throw .invalid("symbol \"\(String(decoding: symbol, as: UTF8.self))\" appears twice")
                }
                collided = true
            }
        }
        guard collided else { return Index(byHash: byHash, exact: nil) }
        var exact: [ArraySlice<UInt8>: Int32] = [:]
        for id in 0..<count {
            if exact.updateValue(Int32(id), forKey: self[id]) != nil {
                throw .invalid("symbol \"\(String(decoding: self[id], as: UTF8.self))\" appears twice")
            }
        }
        return Index(byHash: byHash, exact: exact)
    }
}
