/// Writes stored (uncompressed) zip archives laid out like PyTorch's: entry data aligned to 64
/// bytes with a padding extra field, ZIP64 end records, and, on request, ZIP64 sizes and
/// offsets everywhere even for small files.
public struct TestZipWriter {
    public struct Entry {
        public var name: String
        public var data: [UInt8]
        /// The compression method recorded (the data stays stored): tests a refused entry.
        public var method: UInt16 = 0
        public var flags: UInt16 = 0x0800

        public init(name: String, data: [UInt8], method: UInt16 = 0, flags: UInt16 = 0x0800) {
            self.name = name
            self.data = data
            self.method = method
            self.flags = flags
        }
    }

    public var entries: [Entry] = []
    /// Force ZIP64 extra fields in every local and central record.
    public var zip64Everywhere = false
    /// Write the ZIP64 end record and locator (PyTorch always does).
    public var zip64EndRecords = true

    public init() {}

    public mutating func add(_ name: String, _ data: [UInt8], method: UInt16 = 0) {
        entries.append(Entry(name: name, data: data, method: method))
    }

    /// The archive bytes and, per entry, where its local header and data start.
    public func build() -> (bytes: [UInt8], localHeaders: [Int], dataStarts: [Int], centralDirectory: Int) {
        var out: [UInt8] = []
        var localHeaders: [Int] = []
        var dataStarts: [Int] = []
        func le16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func le32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func le64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }

        for entry in entries {
            localHeaders.append(out.count)
            let name = Array(entry.name.utf8)
            let crc = CRC32.checksum(entry.data)
            var extra: [UInt8] = []
            if zip64Everywhere {
                extra += [0x01, 0x00, 16, 0]
                withUnsafeBytes(of: UInt64(entry.data.count).littleEndian) { extra += $0 }
                withUnsafeBytes(of: UInt64(entry.data.count).littleEndian) { extra += $0 }
            }
            // Pad the data start to 64 bytes with an "FB" field, as PyTorch does.
            let unpadded = out.count + 30 + name.count + extra.count
            let padding = (64 - (unpadded + 4) % 64) % 64
            extra += [0x46, 0x42] // "FB"
            withUnsafeBytes(of: UInt16(padding).littleEndian) { extra += $0 }
            extra += [UInt8](repeating: 0x5A, count: padding)

            le32(0x0403_4b50)
            le16(zip64Everywhere ? 45 : 20)
            le16(entry.flags)
            le16(entry.method)
            le16(0); le16(0) // time, date
            le32(crc)
            le32(zip64Everywhere ? 0xFFFF_FFFF : UInt32(entry.data.count))
            le32(zip64Everywhere ? 0xFFFF_FFFF : UInt32(entry.data.count))
            le16(UInt16(name.count))
            le16(UInt16(extra.count))
            out += name
            out += extra
            dataStarts.append(out.count)
            out += entry.data
        }

        let centralStart = out.count
        for (i, entry) in entries.enumerated() {
            let name = Array(entry.name.utf8)
            var extra: [UInt8] = []
            if zip64Everywhere {
                extra += [0x01, 0x00, 24, 0]
                withUnsafeBytes(of: UInt64(entry.data.count).littleEndian) { extra += $0 }
                withUnsafeBytes(of: UInt64(entry.data.count).littleEndian) { extra += $0 }
                withUnsafeBytes(of: UInt64(localHeaders[i]).littleEndian) { extra += $0 }
            }
            le32(0x0201_4b50)
            le16(zip64Everywhere ? 45 : 20); le16(zip64Everywhere ? 45 : 20)
            le16(entry.flags)
            le16(entry.method)
            le16(0); le16(0)
            le32(CRC32.checksum(entry.data))
            le32(zip64Everywhere ? 0xFFFF_FFFF : UInt32(entry.data.count))
            le32(zip64Everywhere ? 0xFFFF_FFFF : UInt32(entry.data.count))
            le16(UInt16(name.count))
            le16(UInt16(extra.count))
            le16(0) // comment
            le16(0) // disk
            le16(0) // internal attributes
            le32(0) // external attributes
            le32(zip64Everywhere ? 0xFFFF_FFFF : UInt32(localHeaders[i]))
            out += name
            out += extra
        }
        let centralSize = out.count - centralStart

        if zip64EndRecords || zip64Everywhere {
            let recordOffset = out.count
            le32(0x0606_4b50)
            le64(44)
            le16(45); le16(45)
            le32(0); le32(0)
            le64(UInt64(entries.count)); le64(UInt64(entries.count))
            le64(UInt64(centralSize)); le64(UInt64(centralStart))
            le32(0x0706_4b50)
            le32(0)
            le64(UInt64(recordOffset))
            le32(1)
        }
        let saturate = zip64Everywhere
        le32(0x0605_4b50)
        le16(0); le16(0)
        le16(saturate ? 0xFFFF : UInt16(entries.count)); le16(saturate ? 0xFFFF : UInt16(entries.count))
        le32(saturate ? 0xFFFF_FFFF : UInt32(centralSize))
        le32(saturate ? 0xFFFF_FFFF : UInt32(centralStart))
        le16(0)
        return (out, localHeaders, dataStarts, centralStart)
    }
}

public enum CRC32 {
    public static let table: [UInt32] = (0 ..< 256).map { n in
        var c = UInt32(n)
        for _ in 0 ..< 8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes { c = table[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }
}
