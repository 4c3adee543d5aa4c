/// One central-directory record of a zip archive, with ZIP64 sizes already applied.
struct ZipEntry: Sendable {
    let name: String
    /// General-purpose flags; bit 0 means encrypted.
    let flags: UInt16
    /// 0 = stored; anything else is compressed.
    let method: UInt16
    let compressedSize: Int
    let uncompressedSize: Int
    let localHeaderOffset: Int
    /// Where the record sits in the central directory (for messages).
    let recordOffset: Int

    var isEncrypted: Bool { flags & 1 != 0 }
    var isStored: Bool { method == 0 }

    var methodName: String {
        switch method {
        case 0: "stored"
        case 8: "deflate"
        case 9: "deflate64"
        case 12: "bzip2"
        case 14: "LZMA"
        case 93: "zstd"
        case 95: "xz"
        default: "method \(method)"
        }
    }
}
