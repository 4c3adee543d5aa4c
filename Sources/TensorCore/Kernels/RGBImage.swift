import TensorStorage

/// An 8-bit RGB image, row-major `[height, width, 3]` (the layout decoders hand out and the
/// reference stores its uint8 images in).
public struct RGBImage: Sendable, Equatable {
    public let width: Int
    public let height: Int
    /// `height·width·3` bytes, R G B per pixel, rows top to bottom.
    public private(set) var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) throws {
        guard width > 0, height > 0 else {
            throw TensorError.invalidArgument("image size \(width)×\(height) must be positive")
        }
        guard pixels.count == width * height * 3 else {
            throw TensorError.shapeMismatch("\(pixels.count) bytes for a \(width)×\(height) RGB image (needs \(width * height * 3))")
        }
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// A black image.
    public init(width: Int, height: Int) throws {
        try self.init(width: width, height: height, pixels: [UInt8](repeating: 0, count: max(width * height * 3, 0)))
    }

    public subscript(x: Int, y: Int, channel: Int) -> UInt8 {
        get { pixels[(y * width + x) * 3 + channel] }
        set { pixels[(y * width + x) * 3 + channel] = newValue }
    }
}
