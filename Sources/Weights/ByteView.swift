/// Bounds-checked little-endian reads over raw bytes. Every read of file-controlled data goes
/// through here so that a lying length can never reach past the buffer: a read that does not
/// fit returns nil and the caller turns that into a `WeightsError` naming what was cut off.
struct ByteView {
    let bytes: UnsafeRawBufferPointer

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    var count: Int { bytes.count }

    /// Whether `[offset, offset + length)` lies inside the buffer (no overflow possible).
    func contains(offset: Int, length: Int) -> Bool {
        offset >= 0 && length >= 0 && offset <= count && length <= count - offset
    }

    func uint<T: FixedWidthInteger & UnsignedInteger>(_: T.Type, at offset: Int) -> T? {
        guard contains(offset: offset, length: MemoryLayout<T>.size) else { return nil }
        return T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
    }

    func u8(at offset: Int) -> UInt8? { uint(UInt8.self, at: offset) }
    func u16(at offset: Int) -> UInt16? { uint(UInt16.self, at: offset) }
    func u32(at offset: Int) -> UInt32? { uint(UInt32.self, at: offset) }
    func u64(at offset: Int) -> UInt64? { uint(UInt64.self, at: offset) }

    /// A sub-range, or nil when it does not fit.
    func slice(offset: Int, length: Int) -> UnsafeRawBufferPointer? {
        guard contains(offset: offset, length: length) else { return nil }
        return UnsafeRawBufferPointer(rebasing: bytes[offset ..< offset + length])
    }
}

extension UInt64 {
    /// The value as `Int` when it is representable (file sizes and offsets always are on the
    /// 64-bit platforms we run on; anything larger is a lie in the file).
    var asInt: Int? { self <= UInt64(Int.max) ? Int(self) : nil }
}

/// Decodes bytes as UTF-8, refusing invalid sequences (never substitutes U+FFFD).
func decodeUTF8(_ bytes: UnsafeRawBufferPointer) -> String? {
    String(validating: bytes, as: UTF8.self)
}
