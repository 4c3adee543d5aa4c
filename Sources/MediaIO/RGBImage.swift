/// An 8-bit RGB image: rows top to bottom, pixels left to right, three bytes each, no padding.
public struct RGBImage: Sendable, Equatable {
    public let width: Int
    public let height: Int
    /// `width * height * 3` bytes, R G B per pixel.
    public var pixels: [UInt8]

    /// Fails with `.invalidInput` unless both sides are positive and `pixels` holds exactly
    /// `width * height * 3` bytes.
    public init(width: Int, height: Int, pixels: [UInt8]) throws(MediaError) {
        guard width > 0, height > 0 else {
            throw MediaError(.invalidInput, "an image needs a positive size, got \(width)×\(height)")
        }
        let (area, overflowA) = width.multipliedReportingOverflow(by: height)
        let (count, overflowB) = area.multipliedReportingOverflow(by: 3)
        guard !overflowA, !overflowB, pixels.count == count else {
            throw MediaError(.invalidInput, "a \(width)×\(height) RGB image needs \(width)·\(height)·3 bytes, got \(pixels.count)")
        }
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// For sizes and byte counts this module has already checked.
    init(uncheckedWidth width: Int, height: Int, pixels: [UInt8]) {
        self.width = width
        self.height = height
        self.pixels = pixels
    }
}
