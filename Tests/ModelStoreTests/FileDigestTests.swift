import Foundation
@testable import ModelStore
import Testing
import TestingSupport

@Suite("File digest (SHA-256 through swift-crypto)")
struct FileDigestTests {
    static func temporaryFile(_ bytes: [UInt8]) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("sha-\(UUID().uuidString)").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test("FIPS 180-4 known answers, read from files")
    func knownAnswers() throws {
        let cases: [([UInt8], String)] = [
            ([], "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
            (Array("abc".utf8), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
            (Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8),
             "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
            ([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000),
             "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"),
        ]
        for (bytes, expected) in cases {
            let path = try Self.temporaryFile(bytes)
            defer { try? FileManager.default.removeItem(atPath: path) }
            #expect(try FileDigest.sha256(file: path) == expected, "\(bytes.count) bytes")
        }
    }

    @Test("a file crossing the read chunks at an odd offset: sha256sum's digest, progress up to the size")
    func fileMatchesCoreutils() throws {
        // 9 MiB + 13 bytes: crosses the 4 MiB read chunks at an odd offset.
        var state: UInt32 = 12345
        let bytes = (0 ..< 2 * FileDigest.chunkBytes + (1 << 20) + 13).map { _ -> UInt8 in
            state = state &* 1_664_525 &+ 1_013_904_223
            return UInt8(truncatingIfNeeded: state >> 24)
        }
        let path = try Self.temporaryFile(bytes)
        defer { try? FileManager.default.removeItem(atPath: path) }
        var seen: [Int64] = []
        let digest = try FileDigest.sha256(file: path) { seen.append($0) }
        #expect(digest == (try TestServer.sha256sum(path)))
        #expect(seen == [Int64(FileDigest.chunkBytes), Int64(2 * FileDigest.chunkBytes), Int64(bytes.count)])
    }

    @Test("a file that cannot be read is a ModelStoreError naming it")
    func unreadable() {
        let path = "/nonexistent-\(UUID().uuidString)"
        let error = #expect(throws: ModelStoreError.self) { try FileDigest.sha256(file: path) }
        #expect(error.map { "\($0)".contains(path) } == true)
    }
}
