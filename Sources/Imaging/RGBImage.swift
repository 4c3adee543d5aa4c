/// An 8-bit RGB image, row-major `[height, width, 3]`: rows top to bottom, pixels left to right,
/// three bytes each, no padding. It is what the decoders hand out, what the pipeline's frames
/// come back as, what the encoders take, and how the reference stores its uint8 images; one type
/// for all of them, so an image crosses from decoding to preprocessing to encoding uncopied.
public struct RGBImage: Sendable, Equatable {
    public let width: Int
    public let height: Int
    /// `height·width·3` bytes, R G B per pixel. Writable only through the subscript, which
    /// cannot change the count.
    public private(set) var pixels: [UInt8]

    /// Fails unless both sides are positive and `pixels` holds exactly `width·height·3` bytes
    /// (the product checked for overflow: sizes may come from a file's header).
    public init(width: Int, height: Int, pixels: [UInt8]) throws(ImagingError) {
        guard width > 0, height > 0 else {
            throw .invalidSize("an image needs a positive size, got \(width)×\(height)")
        }
        let (area, overflowA) = width.multipliedReportingOverflow(by: height)
        let (count, overflowB) = area.multipliedReportingOverflow(by: 3)
        guard !overflowA, !overflowB, pixels.count == count else {
            throw .pixelCountMismatch("a \(width)×\(height) RGB image needs \(width)·\(height)·3 bytes, got \(pixels.count)")
        }
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    public subscript(x: Int, y: Int, channel: Int) -> UInt8 {
        get { pixels[(y * width + x) * 3 + channel] }
        set { pixels[(y * width + x) * 3 + channel] = newValue }
    }
}
