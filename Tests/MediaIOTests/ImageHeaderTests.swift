import CZlib
import Foundation
import Imaging
import MediaIO
import Synchronization
import Testing

/// Hand-made PNGs, right and wrong in one way each.
enum HandPNG {
    static func bigEndian(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)]
    }

    static func chunk(_ type: String, _ data: [UInt8], badCRC: Bool = false) -> [UInt8] {
        let body = Array(type.utf8) + data
        let crc = UInt32(body.withUnsafeBufferPointer { CZlib.crc32(0, $0.baseAddress, uInt($0.count)) })
        return bigEndian(UInt32(data.count)) + body + bigEndian(badCRC ? ~crc : crc)
    }

    static func deflate(_ bytes: [UInt8]) -> [UInt8] {
        var size = compressBound(uLong(bytes.count))
        var out = [UInt8](repeating: 0, count: Int(size))
        _ = compress2(&out, &size, bytes, uLong(bytes.count), 9)
        return Array(out.prefix(Int(size)))
    }

    /// Rows of filter byte 0 and `rowBytes` bytes of `fill`.
    static func rows(_ count: Int, rowBytes: Int, fill: UInt8 = 0x80) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(count * (rowBytes + 1))
        for _ in 0..<count { out.append(0); out.append(contentsOf: repeatElement(fill, count: rowBytes)) }
        return out
    }

    static func png(width: UInt32, height: UInt32, depth: UInt8 = 8, colour: UInt8 = 2, interlace: UInt8 = 0,
                    data: [UInt8]? = nil, idat: [UInt8]? = nil, extra: [UInt8] = [], badCRC: String? = nil,
                    palette: Bool = false) -> [UInt8] {
        let samples = [0: 1, 2: 3, 3: 1, 4: 2, 6: 4][Int(colour)] ?? 3
        let filtered = data ?? rows(Int(height), rowBytes: (Int(width) * samples * Int(depth) + 7) / 8)
        var out: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        out += chunk("IHDR", bigEndian(width) + bigEndian(height) + [depth, colour, 0, 0, interlace], badCRC: badCRC == "IHDR")
        out += extra
        if palette { out += chunk("PLTE", [0, 0, 0, 255, 255, 255, 255, 0, 0, 0, 255, 0]) }
        out += chunk("IDAT", idat ?? deflate(filtered), badCRC: badCRC == "IDAT")
        out += chunk("IEND", [])
        return out
    }
}

@Suite("PNG checks and decode memory")
struct ImageHeaderTests {
    /// The message of the error decoding `bytes` gives, or nil when it decodes.
    static func failure(_ bytes: [UInt8], limits: ImageLimits = .default) -> MediaError? {
        do {
            _ = try ImageDecoder.decode(data: bytes, limits: limits)
            return nil
        } catch {
            return error
        }
    }

    @Test("a damaged PNG is refused naming what is wrong, in words a person can act on")
    func damagedPNGs() {
        // A valid CRC over a damaged deflate stream.
        var varied: [UInt8] = []
        for row in 0..<16 {
            varied.append(0)
            for x in 0..<48 { varied.append(UInt8(truncatingIfNeeded: x * 7 + row * 13)) }
        }
        var damagedStream = HandPNG.deflate(varied)
        damagedStream[damagedStream.count / 2] ^= 0xFF
        let cases: [(String, [UInt8], String)] = [
            ("0×0", HandPNG.png(width: 0, height: 0, data: []), "the PNG declares a 0×0 image"),
            ("bad IDAT CRC", HandPNG.png(width: 16, height: 16, badCRC: "IDAT"), "the PNG is corrupt (bad CRC in chunk IDAT)"),
            ("bad IHDR CRC", HandPNG.png(width: 16, height: 16, badCRC: "IHDR"), "bad CRC in chunk IHDR"),
            ("bit depth 7", HandPNG.png(width: 16, height: 16, depth: 7), "the PNG's bit depth 7 is not valid (colour type 2, RGB, allows 8, 16)"),
            ("colour type 5", HandPNG.png(width: 16, height: 16, colour: 5), "colour type 5 is not valid"),
            ("cut short", Array(HandPNG.png(width: 16, height: 16).prefix(60)), "the PNG is truncated (it ends inside chunk IDAT)"),
            ("no IEND", Array(HandPNG.png(width: 16, height: 16).dropLast(12)), "before its IEND chunk"),
            ("short image data", HandPNG.png(width: 16, height: 16, data: HandPNG.rows(10, rowBytes: 48)),
             "its image data ends after 490 of the 784 bytes"),
            ("damaged stream", HandPNG.png(width: 16, height: 16, idat: damagedStream), "the PNG is corrupt"),
            ("text", [0x89, 0x50, 0x4E, 0x47] + Array(" but then text".utf8), "signature is damaged"),
            ("no palette", HandPNG.png(width: 8, height: 8, colour: 3), "no PLTE palette"),
            ("bad row filter", HandPNG.png(width: 4, height: 3, data: [0] + Array(repeating: 1, count: 12) + [2] + Array(repeating: 1, count: 12) + [9] + Array(repeating: 1, count: 12)),
             "row 2 of its image data has filter type 9"),
        ]
        for (name, bytes, expected) in cases {
            let error = Self.failure(bytes)
            #expect(error?.kind == .undecodable, "\(name): \(String(describing: error))")
            #expect(error?.message.contains(expected) == true, "\(name): \(String(describing: error))")
            #expect(error?.message.contains("No valid frames") == false && error?.message.contains("No caps") == false)
        }
    }

    @Test("PNGs the checks must let through decode: interlaced, palette, 16-bit, greyscale, ancillary CRC fault")
    func validPNGs() throws {
        // Adam7: the seven passes' rows, each with its filter byte.
        func interlacedData(width: Int, height: Int) -> [UInt8] {
            let passes = [(0, 8, 0, 8), (4, 8, 0, 8), (0, 4, 4, 8), (2, 4, 0, 4), (0, 2, 2, 4), (1, 2, 0, 2), (0, 1, 1, 2)]
            return passes.flatMap { p -> [UInt8] in
                let w = (width - p.0 + p.1 - 1) / p.1, h = (height - p.2 + p.3 - 1) / p.3
                return w == 0 || h == 0 ? [] : HandPNG.rows(h, rowBytes: w * 3, fill: 0x40)
            }
        }
        let good: [(String, [UInt8], Int, Int)] = [
            ("RGB", HandPNG.png(width: 17, height: 9), 17, 9),
            ("interlaced", HandPNG.png(width: 13, height: 11, interlace: 1, data: interlacedData(width: 13, height: 11)), 13, 11),
            ("palette, 2 bits", HandPNG.png(width: 9, height: 5, depth: 2, colour: 3, palette: true), 9, 5),
            ("16-bit RGBA", HandPNG.png(width: 5, height: 4, depth: 16, colour: 6), 5, 4),
            ("1-bit grey", HandPNG.png(width: 11, height: 3, depth: 1, colour: 0), 11, 3),
            ("bad tEXt CRC", HandPNG.png(width: 4, height: 4, extra: HandPNG.chunk("tEXt", Array("Comment\u{0}hi".utf8), badCRC: true)), 4, 4),
        ]
        for (name, bytes, width, height) in good {
            let header = try ImageHeader.read(bytes)
            #expect(header?.format == .png && header?.width == width && header?.height == height, "\(name)")
            let image = try ImageDecoder.decode(data: bytes)
            #expect(image.width == width && image.height == height, "\(name)")
        }
    }

    @Test("a PNG over the limits is refused from its header, before its data is inflated")
    func limitsFirst() {
        // 16384² of compressed zeros would take seconds to inflate; the refusal takes none.
        let bomb = HandPNG.png(width: 16384, height: 16384, data: Array(repeating: 0, count: 100))
        let error = Self.failure(bomb, limits: ImageLimits(maxWidth: 16384, maxHeight: 16384, maxPixels: 1 << 20))
        #expect(error?.kind == .tooLarge)
        #expect(error?.message.contains("16384×16384") == true)
    }

    @Test("the size other formats declare is read: JPEG, GIF, WebP")
    func otherHeaders() throws {
        var jpeg: [UInt8] = [0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 0x00, 0x00]
        jpeg += [0xFF, 0xC0, 0x00, 0x11, 0x08, 0x01, 0x2C, 0x02, 0x58, 0x03] + Array(repeating: 0, count: 9)
        #expect(try ImageHeader.read(jpeg).map { [$0.width, $0.height] } == [600, 300])
        let gif = Array("GIF89a".utf8) + [0x40, 0x01, 0xF0, 0x00] + Array(repeating: 0, count: 8)
        #expect(try ImageHeader.read(gif).map { [$0.width, $0.height] } == [320, 240])
        var webp = Array("RIFF".utf8) + [0, 0, 0, 0] + Array("WEBPVP8X".utf8) + Array(repeating: 0, count: 8)
        webp += [0x3F, 0x01, 0x00, 0xEF, 0x00, 0x00]
        #expect(try ImageHeader.read(webp).map { [$0.width, $0.height] } == [320, 240])
        #expect(try ImageHeader.read(Array("plain text".utf8)) == nil)
    }

    @Test("decodes reserve their memory: those that do not fit together wait, one too large alone runs alone")
    func decodeMemoryGate() throws {
        let memory = DecodeMemory(capacity: 100)
        let peak = Mutex(0)
        let group = DispatchGroup()
        for size in [60, 60, 30, 150, 10] {
            DispatchQueue.global().async(group: group) {
                _ = try? memory.withReservation(size, timeout: 30) { () throws(MediaError) in
                    let now = memory.reservedBytes
                    peak.withLock { $0 = max($0, now) }
                    usleep(50_000)
                }
            }
        }
        #expect(group.wait(timeout: .now() + 30) == .success)
        #expect(peak.withLock { $0 } <= 150)
        #expect(memory.reservedBytes == 0)
        // The 150 only ever ran alone: nothing else could be beside it.
        let alone = try memory.withReservation(150, timeout: 1) { () throws(MediaError) in memory.reservedBytes }
        #expect(alone == 150)

        // A decode that cannot get in within its time is refused as busy.
        let holding = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            _ = try? memory.withReservation(100, timeout: 1) { () throws(MediaError) in holding.signal(); release.wait() }
        }
        holding.wait()
        do {
            try memory.withReservation(10, timeout: 0.2) { () throws(MediaError) in }
            Issue.record("admitted beside a full reservation")
        } catch {
            #expect(error.kind == .busy)
        }
        release.signal()
    }

    @Test("a decode that needs more than the memory available is refused naming both figures")
    func insufficientMemory() {
        let png = HandPNG.png(width: 2048, height: 1024)
        do {
            _ = try ImageDecoder.decode(data: png, memory: DecodeMemory(capacity: 1 << 30), availableBytes: 8 << 20) { $0 }
            Issue.record("decoded beyond the memory available")
        } catch {
            #expect(error.kind == .insufficientMemory)
            // 2048 × 1024 × (3 decoded + 3 converted + 3 copied) bytes = 18 MiB.
            #expect(error.message.contains("2048×1024 PNG takes about 18 MiB; 8 MiB are available"), "\(error)")
        }
    }
}
