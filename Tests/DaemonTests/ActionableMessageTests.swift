import DBusKit
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

extension DaemonTests {
    @Test("options made of control characters and damaged PNGs are refused in words a person can act on")
    func actionableMessages() async throws {
        try await DaemonBus.with { bus, connection in
            let png = try Fixtures.png(width: 64, height: 64)
            let prefix = DaemonBus.errorPrefix
            let mode = await dbusError {
                _ = try await connection.animate(imagePath: png, quickJob().merging(["mode": .string("\u{1}\u{2}")]) { $1 })
            }
            #expect(mode?.name == prefix + "InvalidArgument")
            #expect(mode?.message.contains("option 'mode' is '\\u{1}\\u{2}'") == true, "\(String(describing: mode))")
            let output = try Descriptors.outputFile(bus.directory + "/out.bin")
            let format = await dbusError {
                _ = try await connection.animate(imagePath: png, quickJob().merging(["output": .unixFD(output), "output-format": .string("\u{7}\n")]) { $1 })
            }
            #expect(format?.message.contains("option 'output-format' is '\\u{7}\\n'") == true, "\(String(describing: format))")

            for (bytes, expected) in [(Self.headerOnlyPNG(width: 0, height: 0, depth: 8), "the PNG declares a 0×0 image"),
                                      (Self.headerOnlyPNG(width: 8, height: 8, depth: 7), "the PNG's bit depth 7 is not valid")] {
                let refused = await dbusError { _ = try await connection.animate(fd: try Descriptors.memfd(holding: bytes), quickJob()) }
                #expect(refused?.name == prefix + "InvalidImage")
                #expect(refused?.message.contains(expected) == true, "\(String(describing: refused))")
            }
        }
    }

    /// A PNG of a signature, an RGB IHDR and IEND: enough to be refused for its header.
    static func headerOnlyPNG(width: UInt32, height: UInt32, depth: UInt8) -> [UInt8] {
        func bigEndian(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)] }
        func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
            let body = Array(type.utf8) + data
            var crc: UInt32 = 0xFFFF_FFFF
            for byte in body {
                crc ^= UInt32(byte)
                for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
            }
            return bigEndian(UInt32(data.count)) + body + bigEndian(~crc)
        }
        return [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
            + chunk("IHDR", bigEndian(width) + bigEndian(height) + [depth, 2, 0, 0, 0]) + chunk("IEND", [])
    }
}
