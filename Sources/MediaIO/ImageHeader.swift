import CZlib

/// What an encoded image says about itself, read from its bytes before GStreamer sees them:
/// the format and the size it declares. The size is known before any pixel is decoded, so the
/// limits and the decode memory are settled up front; and a PNG is checked in full (structure,
/// header fields, CRCs, the compressed image data) because GStreamer reports every PNG fault
/// as "No caps set" or "No valid frames decoded", which tells a person nothing.
public struct ImageHeader: Sendable, Equatable {
    public enum Format: String, Sendable {
        case png = "PNG", jpeg = "JPEG", gif = "GIF", webp = "WebP"
    }

    public let format: Format
    public let width: Int
    public let height: Int
    /// Bytes per pixel of the decoder's own output, before conversion to 8-bit RGB.
    let decoderBytesPerPixel: Int

    /// What a decode of this image holds at its peak: the decoder's frame, `videoconvert`'s
    /// RGB frame, and the copy handed back (GStreamer pads rows to 4 bytes: ignored, < 1 %).
    public var decodeBytes: Int {
        Self.decodeBytes(pixels: width * height, decoderBytesPerPixel: decoderBytesPerPixel)
    }

    static func decodeBytes(pixels: Int, decoderBytesPerPixel: Int) -> Int {
        let (total, overflow) = pixels.multipliedReportingOverflow(by: decoderBytesPerPixel + 3 + 3)
        return overflow ? Int.max : total
    }

    /// The header of `bytes`, nil for a format not recognised here (GStreamer may still know
    /// it). Throws `.undecodable` with the fault in plain words for a damaged PNG; for the
    /// other formats only the size fields are read, and a size they do not reveal gives nil.
    /// `limits` are checked on a PNG's size before its image data is inflated.
    public static func read(_ bytes: [UInt8], limits: ImageLimits = .default) throws(MediaError) -> ImageHeader? {
        try bytes.withUnsafeBytes { raw in
            Result { () throws(MediaError) -> ImageHeader? in
                let data = ByteReader(raw)
                if data.starts(with: [0x89, 0x50, 0x4E, 0x47]) { return try PNGCheck.inspect(data, limits: limits) }
                if data.starts(with: [0xFF, 0xD8, 0xFF]) { return jpeg(data) }
                if data.starts(with: Array("GIF87a".utf8)) || data.starts(with: Array("GIF89a".utf8)) { return gif(data) }
                if data.starts(with: Array("RIFF".utf8)), data.matches(Array("WEBP".utf8), at: 8) { return webp(data) }
                return nil
            }
        }.get()
    }

    /// The first start-of-frame segment's size (SOF0–SOF15 but DHT, JPG and DAC).
    private static func jpeg(_ data: ByteReader) -> ImageHeader? {
        var at = 2
        while at + 4 <= data.count {
            guard data[at] == 0xFF else { return nil }
            let marker = data[at + 1]
            if marker == 0xFF { at += 1; continue } // fill byte
            if marker == 0xD8 || marker == 0x01 || (0xD0...0xD7).contains(marker) { at += 2; continue }
            let length = data.bigEndian16(at + 2)
            if (0xC0...0xCF).contains(marker), ![0xC4, 0xC8, 0xCC].contains(marker) {
                guard at + 9 <= data.count else { return nil }
                let height = data.bigEndian16(at + 5), width = data.bigEndian16(at + 7)
                // A height of 0 is set later by a DNL marker: size unknown here.
                guard width > 0, height > 0 else { return nil }
                // jpegdec gives planar YUV (≤ 3 bytes a pixel) or RGB.
                return ImageHeader(format: .jpeg, width: width, height: height, decoderBytesPerPixel: 3)
            }
            if marker == 0xDA || marker == 0xD9 { return nil } // image data before any frame header
            at += 2 + length
        }
        return nil
    }

    /// The logical screen (frames are drawn into it, and decoded at its size).
    private static func gif(_ data: ByteReader) -> ImageHeader? {
        guard data.count >= 10 else { return nil }
        let width = Int(data[6]) | Int(data[7]) << 8, height = Int(data[8]) | Int(data[9]) << 8
        guard width > 0, height > 0 else { return nil }
        return ImageHeader(format: .gif, width: width, height: height, decoderBytesPerPixel: 4)
    }

    /// The canvas of an extended file, else the size in the lossless or lossy bitstream header.
    private static func webp(_ data: ByteReader) -> ImageHeader? {
        guard data.count >= 30 else { return nil }
        var width = 0, height = 0
        if data.matches(Array("VP8X".utf8), at: 12) {
            width = 1 + (Int(data[24]) | Int(data[25]) << 8 | Int(data[26]) << 16)
            height = 1 + (Int(data[27]) | Int(data[28]) << 8 | Int(data[29]) << 16)
        } else if data.matches(Array("VP8L".utf8), at: 12), data[20] == 0x2F {
            let bits = Int(data[21]) | Int(data[22]) << 8 | Int(data[23]) << 16 | Int(data[24]) << 24
            width = 1 + bits & 0x3FFF
            height = 1 + (bits >> 14) & 0x3FFF
        } else if data.matches(Array("VP8 ".utf8), at: 12), data.matches([0x9D, 0x01, 0x2A], at: 23) {
            width = (Int(data[26]) | Int(data[27]) << 8) & 0x3FFF
            height = (Int(data[28]) | Int(data[29]) << 8) & 0x3FFF
        }
        guard width > 0, height > 0 else { return nil }
        return ImageHeader(format: .webp, width: width, height: height, decoderBytesPerPixel: 4)
    }
}

/// Bounds-checked big-endian reads over a byte buffer.
struct ByteReader {
    let bytes: UnsafeRawBufferPointer
    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    var count: Int { bytes.count }
    subscript(_ index: Int) -> UInt8 { bytes[index] }

    func starts(with prefix: [UInt8]) -> Bool { matches(prefix, at: 0) }

    func matches(_ expected: [UInt8], at offset: Int) -> Bool {
        guard offset >= 0, offset + expected.count <= count else { return false }
        return expected.indices.allSatisfy { bytes[offset + $0] == expected[$0] }
    }

    func bigEndian16(_ at: Int) -> Int { Int(bytes[at]) << 8 | Int(bytes[at + 1]) }

    func bigEndian32(_ at: Int) -> UInt32 {
        UInt32(bytes[at]) << 24 | UInt32(bytes[at + 1]) << 16 | UInt32(bytes[at + 2]) << 8 | UInt32(bytes[at + 3])
    }
}

/// A PNG checked the way its specification defines it, every fault named in a person's terms.
enum PNGCheck {
    static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    static func fault(_ text: String) -> MediaError {
        // "the PNG is …", "the PNG's …"
        MediaError(.undecodable, "the PNG" + (text.hasPrefix("'") ? "" : " ") + text)
    }

    static func inspect(_ data: ByteReader, limits: ImageLimits) throws(MediaError) -> ImageHeader {
        guard data.starts(with: signature) else {
            // The bytes after "PNG" are a CR LF, a ^Z and an LF exactly to catch this.
            throw fault("signature is damaged (was the file copied as text, converting line ends?)")
        }
        var at = 8
        var header: (width: Int, height: Int, depth: Int, colour: Int, interlaced: Bool)?
        var imageData: ImageDataCheck?
        var sawPalette = false
        var previous = ""
        while true {
            guard at + 8 <= data.count else {
                throw fault(header == nil ? "is truncated (it ends before its IHDR header)"
                    : "is truncated (it ends after chunk \(previous), before its IEND chunk)")
            }
            let length = Int(data.bigEndian32(at))
            let typeBytes = (0..<4).map { data[at + 4 + $0] }
            guard typeBytes.allSatisfy({ (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) }) else {
                throw fault("is corrupt (no valid chunk at byte \(at)\(previous.isEmpty ? "" : ", after chunk \(previous)"))")
            }
            let type = String(decoding: typeBytes, as: UTF8.self)
            guard length <= Int(Int32.max), at + 12 + length <= data.count else {
                throw fault("is truncated (it ends inside chunk \(type))")
            }
            let body = UnsafeRawBufferPointer(rebasing: data.bytes[(at + 8)..<(at + 8 + length)])
            // Critical chunks (upper-case first letter) only: a decoder skips an ancillary chunk
            // with a bad CRC, so such a file still decodes.
            let critical = typeBytes[0] < 0x61
            if critical {
                var crc = crc32(0, nil, 0)
                crc = UnsafeRawBufferPointer(rebasing: data.bytes[(at + 4)..<(at + 8 + length)]).withMemoryRebound(to: Bytef.self) {
                    crc32_z(crc, $0.baseAddress, z_size_t($0.count))
                }
                guard UInt32(truncatingIfNeeded: crc) == data.bigEndian32(at + 8 + length) else {
                    throw fault("is corrupt (bad CRC in chunk \(type))")
                }
            }
            if header == nil {
                guard type == "IHDR", length == 13 else {
                    throw fault("is corrupt (it starts with chunk \(type) instead of a 13-byte IHDR header)")
                }
                let h = try checkHeader(ByteReader(body))
                // Refused before the image data is inflated: a bomb's would take long.
                if !limits.allows(width: h.width, height: h.height) {
                    throw limits.refusal(width: h.width, height: h.height, path: nil)
                }
                header = h
                imageData = ImageDataCheck(width: h.width, height: h.height, bitsPerPixel: h.depth * channels(h.colour), interlaced: h.interlaced)
            } else {
                switch type {
                case "IHDR": throw fault("is corrupt (it holds a second IHDR header)")
                case "PLTE": sawPalette = true
                case "IDAT":
                    try imageData?.feed(body)
                case "IEND":
                    let h = header!
                    if h.colour == 3 && !sawPalette { throw fault("is corrupt (it is palette-based but has no PLTE palette)") }
                    try imageData?.finish()
                    return ImageHeader(format: .png, width: h.width, height: h.height,
                                       decoderBytesPerPixel: decoderBytesPerPixel(depth: h.depth, colour: h.colour))
                default: break
                }
            }
            previous = type
            at += 12 + length
        }
    }

    /// Samples a pixel of each colour type holds: grey, -, RGB, palette index, grey+alpha, -, RGBA.
    static func channels(_ colour: Int) -> Int {
        [1, 0, 3, 1, 2, 0, 4][colour]
    }

    /// pngdec's output: palettes expanded to RGB(A), 16-bit samples kept at 16 bits.
    static func decoderBytesPerPixel(depth: Int, colour: Int) -> Int {
        let samples = colour == 3 ? 4 : channels(colour)
        return samples * (depth == 16 ? 2 : 1)
    }

    private static func checkHeader(_ ihdr: ByteReader) throws(MediaError) -> (width: Int, height: Int, depth: Int, colour: Int, interlaced: Bool) {
        let width = Int(ihdr.bigEndian32(0)), height = Int(ihdr.bigEndian32(4))
        let depth = Int(ihdr[8]), colour = Int(ihdr[9])
        if width == 0 || height == 0 { throw fault("declares a \(width)×\(height) image; an image needs at least one pixel") }
        if width > Int(Int32.max) || height > Int(Int32.max) {
            throw fault("declares a \(width)×\(height) image, larger than the PNG format allows (2³¹−1 a side)")
        }
        let allowed: [Int: (name: String, depths: [Int])] = [
            0: ("greyscale", [1, 2, 4, 8, 16]), 2: ("RGB", [8, 16]), 3: ("palette", [1, 2, 4, 8]),
            4: ("greyscale with alpha", [8, 16]), 6: ("RGBA", [8, 16]),
        ]
        guard let kind = allowed[colour] else {
            throw fault("'s colour type \(colour) is not valid (PNG defines 0, 2, 3, 4 and 6)")
        }
        guard kind.depths.contains(depth) else {
            let list = kind.depths.map(String.init).joined(separator: ", ")
            throw fault("'s bit depth \(depth) is not valid (colour type \(colour), \(kind.name), allows \(list))")
        }
        guard ihdr[10] == 0 else { throw fault("'s compression method \(ihdr[10]) is not valid (PNG defines only 0)") }
        guard ihdr[11] == 0 else { throw fault("'s filter method \(ihdr[11]) is not valid (PNG defines only 0)") }
        guard ihdr[12] <= 1 else { throw fault("'s interlace method \(ihdr[12]) is not valid (PNG defines 0 and 1)") }
        return (width, height, depth, colour, ihdr[12] == 1)
    }
}

/// Inflates the IDAT stream into a small scratch buffer, counting bytes: a truncated or damaged
/// stream is found here (GStreamer decodes a short stream without complaint, leaving the
/// missing rows black), in the time zlib takes and without holding the image. A class: zlib
/// keeps a pointer to its `z_stream`, which must not move.
final class ImageDataCheck {
    private let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
    private let scratch = UnsafeMutablePointer<Bytef>.allocate(capacity: scratchSize)
    private static let scratchSize = 1 << 16
    private var started = false
    private var finished = false
    private var produced = 0
    private let expected: Int
    private let size: String
    /// Row lengths (filter byte included) and counts, pass by pass: each row starts with its
    /// filter type, which must be 0–4.
    private let segments: [(length: Int, rows: Int)]
    private var segment = 0
    private var rowsLeft = 0
    private var intoRow = 0
    private var row = 0

    /// The filtered image's size: each row (of each pass, when interlaced) a filter byte and
    /// its packed samples. The caller has checked the size against the limits.
    init(width: Int, height: Int, bitsPerPixel: Int, interlaced: Bool) {
        // Saturating: limits of Int.max must not make this trap.
        func segment(_ w: Int, _ h: Int) -> (length: Int, rows: Int) {
            guard w > 0, h > 0 else { return (1, 0) }
            let (bits, overflow) = w.multipliedReportingOverflow(by: bitsPerPixel)
            return (overflow ? Int.max / 16 : 1 + (bits + 7) / 8, h)
        }
        if interlaced {
            // Adam7: (x start, x step, y start, y step) of the seven passes.
            let passes = [(0, 8, 0, 8), (4, 8, 0, 8), (0, 4, 4, 8), (2, 4, 0, 4), (0, 2, 2, 4), (1, 2, 0, 2), (0, 1, 1, 2)]
            segments = passes.map { p in segment((width - p.0 + p.1 - 1) / p.1, (height - p.2 + p.3 - 1) / p.3) }.filter { $0.rows > 0 }
        } else {
            segments = [segment(width, height)]
        }
        expected = segments.reduce(0) { sum, s in
            let (bytes, o1) = s.length.multipliedReportingOverflow(by: s.rows)
            let (total, o2) = sum.addingReportingOverflow(bytes)
            return o1 || o2 ? Int.max / 2 : total
        }
        rowsLeft = segments.first?.rows ?? 0
        size = "\(width)×\(height)"
        stream.initialize(to: z_stream())
    }

    /// Checks the filter type at the start of each row among the `count` bytes just inflated.
    private func checkFilters(_ count: Int) throws(MediaError) {
        var at = 0
        while at < count, segment < segments.count {
            if intoRow == 0, scratch[at] > 4 {
                throw PNGCheck.fault("is corrupt (row \(row) of its image data has filter type \(scratch[at]); PNG defines 0–4)")
            }
            let step = min(count - at, segments[segment].length - intoRow)
            at += step
            intoRow += step
            if intoRow == segments[segment].length {
                intoRow = 0
                row += 1
                rowsLeft -= 1
                if rowsLeft == 0 {
                    segment += 1
                    rowsLeft = segment < segments.count ? segments[segment].rows : 0
                }
            }
        }
    }

    deinit {
        if started { inflateEnd(stream) }
        stream.deallocate()
        scratch.deallocate()
    }

    func feed(_ chunk: UnsafeRawBufferPointer) throws(MediaError) {
        // Bytes after the end of the compressed stream are ignored, as decoders do.
        guard !finished, chunk.count > 0 else { return }
        if !started {
            guard inflateInit_(stream, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
                throw MediaError(.undecodable, "cannot check the PNG's image data: zlib did not start")
            }
            started = true
        }
        stream.pointee.next_in = UnsafeMutablePointer(mutating: chunk.baseAddress!.assumingMemoryBound(to: Bytef.self))
        stream.pointee.avail_in = uInt(chunk.count)
        while stream.pointee.avail_in > 0 {
            stream.pointee.next_out = scratch
            stream.pointee.avail_out = uInt(Self.scratchSize)
            let status = inflate(stream, Z_NO_FLUSH)
            let count = Self.scratchSize - Int(stream.pointee.avail_out)
            produced += count
            if produced > expected {
                throw PNGCheck.fault("is corrupt (its image data holds more than the \(expected) bytes a \(size) PNG needs)")
            }
            try checkFilters(count)
            switch status {
            case Z_STREAM_END:
                finished = true
                return
            case Z_OK:
                continue
            case Z_BUF_ERROR where stream.pointee.avail_out > 0:
                return // the input is used up: the stream goes on in the next IDAT
            default:
                let reason = stream.pointee.msg.map { String(cString: $0) } ?? "zlib error \(status)"
                throw PNGCheck.fault("is corrupt (its compressed image data is damaged: \(reason))")
            }
        }
    }

    func finish() throws(MediaError) {
        guard started else { throw PNGCheck.fault("holds no image data (no IDAT chunk)") }
        guard finished, produced == expected else {
            throw PNGCheck.fault("is truncated or corrupt (its image data ends after \(produced) of the \(expected) bytes a \(size) PNG needs)")
        }
    }
}
