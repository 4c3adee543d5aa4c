import Foundation
@testable import ModelStore
import Testing
import TestingSupport

@Suite("SHA-256")
struct SHA256Tests {
    @Test("FIPS 180-4 known answers")
    func knownAnswers() {
        #expect(SHA256.hash(Data()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hash(Data("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hash(Data("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
            == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(SHA256.hash(Data(repeating: UInt8(ascii: "a"), count: 1_000_000))
            == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test("any split into updates gives the one-shot digest; lengths around the padding boundary")
    func streaming() {
        let bytes = (0 ..< 1000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        for length in [0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 128, 1000] {
            let whole = SHA256.hash(Data(bytes[..<length]))
            for split in [1, 3, 63, 64, 100] {
                var h = SHA256()
                var i = 0
                while i < length {
                    h.update(Data(bytes[i ..< min(length, i + split)]))
                    i += split
                }
                #expect(SHA256.hex(h.finalize()) == whole, "length \(length), split \(split)")
            }
        }
    }

    @Test("a file's digest equals sha256sum's")
    func fileMatchesCoreutils() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("sha-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        // 9 MiB + 13 bytes: crosses the 4 MiB read chunks at an odd offset.
        var state: UInt32 = 12345
        let bytes = (0 ..< (9 << 20) + 13).map { _ -> UInt8 in
            state = state &* 1_664_525 &+ 1_013_904_223
            return UInt8(truncatingIfNeeded: state >> 24)
        }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        var seen: [Int64] = []
        let digest = try SHA256.hash(file: path) { seen.append($0) }
        #expect(digest == (try TestServer.sha256sum(path)))
        #expect(seen.last == Int64(bytes.count))
    }
}
