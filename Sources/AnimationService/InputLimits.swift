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

    public init(maxSide: Int = 16384, maxPixels: Int = 64 << 20, maxEncodedBytes: Int = 256 << 20,
                maxRawBytes: Int = 512 << 20, readTimeout: Double = 30) {
        self.maxSide = maxSide
        self.maxPixels = maxPixels
        self.maxEncodedBytes = maxEncodedBytes
        self.maxRawBytes = maxRawBytes
        self.readTimeout = readTimeout
    }

    public static let `default` = InputLimits()

    var imageLimits: ImageLimits {
        ImageLimits(maxWidth: maxSide, maxHeight: maxSide, maxPixels: maxPixels)
    }
}
