import TestingSupport
import Foundation

/// Seeded mutations of weight files for the fuzz test: generic byte-level damage plus
/// structure-aware edits aimed at the zip records, the pickle and the safetensors header.
struct Mutator {
    struct Seed {
        let name: String
        let bytes: [UInt8]
        /// Byte ranges where parsing decisions are made (headers, pickle, directory).
        let hotRanges: [Range<Int>]
    }

    var rng: SplitMix64
    let seeds: [Seed]

    init(seed: UInt64, inputs: [(String, [UInt8])]) {
        rng = SplitMix64(seed: seed)
        seeds = inputs.map { Mutator.seed(name: $0.0, bytes: $0.1) }
    }

    static func seed(name: String, bytes: [UInt8]) -> Seed {
        var hot: [Range<Int>] = []
        if bytes.starts(with: [0x50, 0x4B, 0x03, 0x04]) {
            hot.append(0 ..< min(bytes.count, 4096))                   // first local header + pickle
            hot.append(max(0, bytes.count - 2048) ..< bytes.count)     // directory and end records
            var i = 0
            while i + 4 <= bytes.count {
                if bytes[i] == 0x50, bytes[i + 1] == 0x4B, bytes[i + 2] < 8 {
                    hot.append(i ..< min(bytes.count, i + 80))
                }
                i += 1
            }
        } else if bytes.count >= 8 {
            let n = bytes[0 ..< 8].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
            hot.append(0 ..< min(bytes.count, 8 + max(0, min(n, bytes.count))))
        }
        return Seed(name: name, bytes: bytes, hotRanges: hot.filter { !$0.isEmpty })
    }

    mutating func below(_ n: Int) -> Int { n <= 1 ? 0 : Int(rng.next() % UInt64(n)) }
    mutating func chance(_ percent: Int) -> Bool { below(100) < percent }

    /// A position in `bytes`, usually inside a hot range of the seed.
    mutating func position(in bytes: [UInt8], seed: Seed) -> Int {
        guard !bytes.isEmpty else { return 0 }
        if chance(70), !seed.hotRanges.isEmpty {
            let r = seed.hotRanges[below(seed.hotRanges.count)]
            let p = r.lowerBound + below(r.count)
            if p < bytes.count { return p }
        }
        return below(bytes.count)
    }

    static let interesting64: [UInt64] = [
        0, 1, 2, 7, 8, 16, 22, 46, 56, 64, 0x7F, 0x80, 0xFF, 0x100, 0xFFFF, 0x1_0000,
        0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFE, 0xFFFF_FFFF, 0x1_0000_0000,
        UInt64(Int64.max), UInt64(bitPattern: Int64.min), UInt64.max, UInt64.max - 1, 1 << 62,
    ]

    /// Opcodes the pickle machine knows, plus a few it must refuse.
    static let opcodes: [UInt8] = [
        0x80, 0x95, 0x2E, 0x63, 0x93, 0x71, 0x72, 0x94, 0x68, 0x6A, 0x28, 0x30, 0x31, 0x32, 0x7D, 0x64, 0x5D,
        0x6C, 0x29, 0x74, 0x85, 0x86, 0x87, 0x8F, 0x90, 0x91, 0x73, 0x75, 0x61, 0x65, 0x4A, 0x4B, 0x4D, 0x8A,
        0x8B, 0x47, 0x88, 0x89, 0x4E, 0x58, 0x8C, 0x8D, 0x54, 0x55, 0x42, 0x43, 0x8E, 0x52, 0x62, 0x51, 0x81,
        0x92, 0x49, 0x56, 0x00, 0xFF,
    ]

    mutating func mutate() -> (seed: String, bytes: [UInt8]) {
        let seed = seeds[below(seeds.count)]
        var bytes = seed.bytes
        for _ in 0 ..< 1 + below(4) {
            apply(&bytes, seed: seed)
        }
        return (seed.name, bytes)
    }

    private mutating func store(_ value: UInt64, width: Int, at p: Int, in bytes: inout [UInt8]) {
        for i in 0 ..< width where p + i < bytes.count {
            bytes[p + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i)))
        }
    }

    private mutating func apply(_ bytes: inout [UInt8], seed: Seed) {
        let p = position(in: bytes, seed: seed)
        switch below(12) {
        case 0: // flip a bit
            if p < bytes.count { bytes[p] ^= 1 << UInt8(below(8)) }
        case 1: // an interesting byte
            if p < bytes.count { bytes[p] = [0x00, 0x01, 0x7F, 0x80, 0xFF, 0x50, 0x4B, 0x2E, 0x28][below(9)] }
        case 2: // a random byte
            if p < bytes.count { bytes[p] = UInt8(truncatingIfNeeded: rng.next()) }
        case 3: // an interesting 16/32/64-bit value, or one near the file size
            var v = Mutator.interesting64[below(Mutator.interesting64.count)]
            if chance(25) { v = UInt64(max(0, bytes.count + below(9) - 4)) }
            store(v, width: [2, 4, 8][below(3)], at: p, in: &bytes)
        case 4: // truncate
            bytes.removeSubrange(min(p, bytes.count)...)
        case 5: // insert random bytes
            let n = 1 + below(16)
            bytes.insert(contentsOf: (0 ..< n).map { _ in UInt8(truncatingIfNeeded: rng.next()) }, at: min(p, bytes.count))
        case 6: // insert an opcode (with a small operand)
            var chunk = [Mutator.opcodes[below(Mutator.opcodes.count)]]
            chunk += (0 ..< below(5)).map { _ in UInt8(truncatingIfNeeded: rng.next() % 4) }
            bytes.insert(contentsOf: chunk, at: min(p, bytes.count))
        case 7: // delete a range
            let n = 1 + below(64)
            bytes.removeSubrange(min(p, bytes.count) ..< min(p + n, bytes.count))
        case 8: // copy a chunk over another place
            guard !bytes.isEmpty else { return }
            let from = below(bytes.count)
            let n = min(1 + below(64), bytes.count - from)
            let chunk = Array(bytes[from ..< from + n])
            for (i, b) in chunk.enumerated() where p + i < bytes.count { bytes[p + i] = b }
        case 9: // duplicate a chunk (insertion)
            guard !bytes.isEmpty else { return }
            let from = below(bytes.count)
            let n = min(1 + below(128), bytes.count - from)
            bytes.insert(contentsOf: Array(bytes[from ..< from + n]), at: min(p, bytes.count))
        case 10: // splice with another seed
            let other = seeds[below(seeds.count)].bytes
            let q = below(other.count)
            bytes = Array(bytes[..<min(p, bytes.count)]) + Array(other[q...])
        default: // replace a decimal digit run (safetensors numbers) or a byte with a digit
            if p < bytes.count {
                bytes[p] = UInt8(ascii: "0") + UInt8(below(10))
                if chance(30) { bytes.insert(contentsOf: Array("99999999999".utf8).prefix(1 + below(11)), at: p) }
            }
        }
    }

    /// A random pickle program over the machine's opcodes with plausible operands, for
    /// exercising the pickle machine beyond single-byte damage.
    mutating func randomPickle() -> [UInt8] {
        var p = PickleWriter()
        p.proto(2)
        for _ in 0 ..< 1 + below(120) {
            switch below(16) {
            case 0: p.mark()
            case 1: p.emptyDict()
            case 2: p.emptyList()
            case 3: p.emptyTuple()
            case 4: p.string(["state_dict", "storage", "cpu", "0", "w", "epoch"][below(6)])
            case 5: p.int([0, 1, 2, 3, 4, 8, -1, 1 << 40][below(8)])
            case 6: p.global(["torch", "torch._utils", "collections", "x"][below(4)],
                             ["FloatStorage", "_rebuild_tensor_v2", "OrderedDict", "HalfStorage", "y"][below(5)])
            case 7: p.binput(UInt8(below(4)))
            case 8: p.binget(UInt8(below(4)))
            case 9: p.op([0x74, 0x85, 0x86, 0x87][below(4)])
            case 10: p.op([0x73, 0x75, 0x61, 0x65][below(4)])
            case 11: p.reduce()
            case 12: p.binpersid()
            case 13: p.op([0x30, 0x31, 0x32, 0x62, 0x81, 0x88, 0x89, 0x4E][below(8)])
            case 14: p.intTuple((0 ..< below(4)).map { _ in below(9) })
            default: p.op(Mutator.opcodes[below(Mutator.opcodes.count)])
            }
        }
        if chance(90) { p.stop() }
        return p.bytes
    }
}
