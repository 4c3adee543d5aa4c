import Imaging

/// Animated GIF89a, written here because Debian's GStreamer has no GIF encoder (no `gifenc`,
/// no `avenc_gif`). One global colour table (see `GIFPalette`), full frames kept in place
/// (disposal "do not dispose"), LZW-compressed, looping forever (NETSCAPE2.0 extension).
/// Delays are whole hundredths of a second, so frame i ends at round(100·(i+1)/fps) cs: the
/// delays alternate where 100/fps is fractional and the total stays exact.
enum GIFEncoder {
    /// The highest rate whose frame delay (2 cs) players honour; they slow shorter delays down.
    static let maximumFPS = 50

    static func encode(frames: [RGBImage], fps: Int, isCancelled: () -> Bool) throws(MediaError) -> [UInt8] {
        guard let first = frames.first else { return [] }
        let palette = GIFPalette(frames: frames)
        var out: [UInt8] = Array("GIF89a".utf8)
        // Logical screen: size, global table present, 8-bit colour resolution, table size.
        out += le16(first.width) + le16(first.height)
        out += [0x80 | 0x70 | UInt8(palette.bits - 1), 0, 0]
        out += palette.table
        // Loop forever.
        out += [0x21, 0xFF, 0x0B] + Array("NETSCAPE2.0".utf8) + [0x03, 0x01, 0x00, 0x00, 0x00]

        let minimumCodeSize = max(2, palette.bits)
        var lzw = LZWEncoder(minimumCodeSize: minimumCodeSize)
        for (index, frame) in frames.enumerated() {
            if isCancelled() { throw MediaError(.cancelled, "the GIF encode was cancelled") }
            let delay = centiseconds(until: index + 1, fps: fps) - centiseconds(until: index, fps: fps)
            // Graphic control: disposal 1 (leave in place), no transparency, the delay.
            out += [0x21, 0xF9, 0x04, 0x04] + le16(delay) + [0x00, 0x00]
            // Image descriptor: the whole screen, no local table, not interlaced.
            out += [0x2C] + le16(0) + le16(0) + le16(frame.width) + le16(frame.height) + [0x00]
            out.append(UInt8(minimumCodeSize))
            let data = lzw.encode(palette.indices(of: frame))
            var offset = 0
            while offset < data.count {
                let length = min(255, data.count - offset)
                out.append(UInt8(length))
                out += data[offset..<(offset + length)]
                offset += length
            }
            out.append(0x00)
        }
        out.append(0x3B)
        return out
    }

    private static func centiseconds(until frame: Int, fps: Int) -> Int {
        (frame * 200 + fps) / (2 * fps)
    }

    private static func le16(_ value: Int) -> [UInt8] {
        [UInt8(value & 0xFF), UInt8((value >> 8) & 0xFF)]
    }
}
