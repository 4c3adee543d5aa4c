import Crypto
import Foundation

/// The SHA-256 of a downloaded checkpoint, through swift-crypto (BoringSSL's assembly on
/// x86-64): checkpoints run to 10 GB, and the hash is the one thing a download must get right.
enum FileDigest {
    /// Bytes read per `read(2)`; one buffer reused for the whole file.
    static let chunkBytes = 4 << 20

    /// The lowercase hex SHA-256 of the file at `path`; `progress` gets the bytes hashed so far.
    static func sha256(file path: String, progress: ((Int64) -> Void)? = nil) throws(ModelStoreError) -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .io("cannot read \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkBytes, alignment: 64)
        defer { buffer.deallocate() }
        var hasher = SHA256()
        var done: Int64 = 0
        while true {
            let count = read(fd, buffer.baseAddress, buffer.count)
            if count < 0 {
                if errno == EINTR { continue }
                throw .io("cannot read \(path): \(String(cString: strerror(errno)))")
            }
            if count == 0 { break }
            hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: buffer[..<count]))
            done += Int64(count)
            progress?(done)
        }
        return hex(hasher.finalize())
    }

    /// The lowercase hex form of a digest (what `sha256sum` prints and ETags carry).
    static func hex(_ digest: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for byte in digest {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
