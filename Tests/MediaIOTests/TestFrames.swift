import Imaging
import MediaIO
import Synchronization

/// Synthetic clips for the encoder tests.
enum TestFrames {
    /// Smooth gradients drifting over time: thousands of colours, like a real clip.
    static func gradients(count: Int, width: Int, height: Int) throws -> [RGBImage] {
        try (0..<count).map { t in
            var pixels = [UInt8](repeating: 0, count: width * height * 3)
            for y in 0..<height {
                for x in 0..<width {
                    let i = 3 * (y * width + x)
                    pixels[i] = UInt8((x * 255 / max(width - 1, 1) + 12 * t) & 0xFF)
                    pixels[i + 1] = UInt8(y * 255 / max(height - 1, 1))
                    pixels[i + 2] = UInt8(((x + y) * 2 + 20 * t) & 0xFF)
                }
            }
            return try RGBImage(width: width, height: height, pixels: pixels)
        }
    }

    /// A checkerboard of six flat colours with a white square moving across: few colours, so
    /// a GIF can hold it exactly.
    static func blocks(count: Int, width: Int, height: Int) throws -> [RGBImage] {
        let palette: [[UInt8]] = [[200, 30, 30], [30, 160, 40], [20, 40, 190], [230, 200, 20], [10, 10, 10], [120, 0, 140]]
        return try (0..<count).map { t in
            var pixels: [UInt8] = []
            pixels.reserveCapacity(width * height * 3)
            for y in 0..<height {
                for x in 0..<width {
                    let inSquare = (x - 3 * t) >= 0 && (x - 3 * t) < 10 && y >= 5 && y < 15
                    pixels += inSquare ? [255, 255, 255] : palette[(x / 8 + y / 8 + t) % palette.count]
                }
            }
            return try RGBImage(width: width, height: height, pixels: pixels)
        }
    }

    /// Pixels drawn at random from `colors` distinct colours: compresses badly, so the GIF
    /// LZW table fills and restarts many times.
    static func noise(count: Int, width: Int, height: Int, colors: Int, seed: UInt64) throws -> [RGBImage] {
        var state = seed
        func next() -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state >> 33
        }
        let palette: [[UInt8]] = (0..<colors).map { (c: Int) -> [UInt8] in
            let red = UInt8(c & 0xFF), green = UInt8((c * 7) & 0xFF), blue = UInt8((255 - c) & 0xFF)
            return [red, green, blue]
        }
        return try (0..<count).map { _ in
            var pixels: [UInt8] = []
            pixels.reserveCapacity(width * height * 3)
            for _ in 0..<(width * height) { pixels += palette[Int(next() % UInt64(colors))] }
            return try RGBImage(width: width, height: height, pixels: pixels)
        }
    }

    /// Mean absolute difference per channel value.
    static func meanError(_ a: [UInt8], _ b: [UInt8]) -> Double {
        guard a.count == b.count, !a.isEmpty else { return .infinity }
        return Double(zip(a, b).reduce(0) { $0 + abs(Int($1.0) - Int($1.1)) }) / Double(a.count)
    }
}

/// An `isCancelled` that starts answering true on its `after`-th call.
final class CancelAfter: Sendable {
    private let calls = Mutex(0)
    let after: Int

    init(_ after: Int) { self.after = after }

    var check: @Sendable () -> Bool {
        { [self] in calls.withLock { $0 += 1; return $0 >= after } }
    }

    var count: Int { calls.withLock { $0 } }
}
