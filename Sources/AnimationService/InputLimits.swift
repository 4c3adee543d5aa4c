import MediaIO

/// How much input the service accepts: checked before anything large is allocated.
public struct InputLimits: Sendable, Equatable {
    /// Pixels on a side.
    public var maxSide: Int
    /// Pixels in all.
    public var maxPixels: Int
    /// The largest encoded image file read.
    public var maxEncodedBytes: Int
    /// The largest raw pixel buffer (stride × height) read.
    public var maxRawBytes: Int
    /// How long a pipe or socket may take to deliver a whole image, in seconds.
    public var readTimeout: Double
    /// What the decodes running at once may hold together (`DecodeMemory`): images that need
    /// more wait their turn, and one image that needs more on its own is decoded alone.
    public var maxDecodeBytes: Int

    public init(maxSide: Int = 16384, maxPixels: Int = 64 << 20, maxEncodedBytes: Int = 256 << 20,
                maxRawBytes: Int = 512 << 20, readTimeout: Double = 30, maxDecodeBytes: Int = 512 << 20) {
        self.maxSide = maxSide
        self.maxPixels = maxPixels
        self.maxEncodedBytes = maxEncodedBytes
        self.maxRawBytes = maxRawBytes
        self.readTimeout = readTimeout
        self.maxDecodeBytes = maxDecodeBytes
    }

    public static let `default` = InputLimits()

    var imageLimits: ImageLimits {
        ImageLimits(maxWidth: maxSide, maxHeight: maxSide, maxPixels: maxPixels)
    }
}
