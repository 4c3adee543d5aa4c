/// The largest image a decode accepts; checked on the negotiated caps, before the decoder
/// allocates a frame where GStreamer tells us the size early enough (PNG and JPEG headers).
public struct ImageLimits: Sendable, Equatable {
    public var maxWidth: Int
    public var maxHeight: Int
    public var maxPixels: Int

    public init(maxWidth: Int, maxHeight: Int, maxPixels: Int) {
        self.maxWidth = maxWidth
        self.maxHeight = maxHeight
        self.maxPixels = maxPixels
    }

    /// 16384 × 16384 at most, and no more than 64 megapixels in all.
    public static let `default` = ImageLimits(maxWidth: 16384, maxHeight: 16384, maxPixels: 64 << 20)

    func allows(width: Int, height: Int) -> Bool {
        guard width > 0, height > 0, width <= maxWidth, height <= maxHeight else { return false }
        let (area, overflow) = width.multipliedReportingOverflow(by: height)
        return !overflow && area <= maxPixels
    }

    func refusal(width: Int, height: Int, path: String?) -> MediaError {
        MediaError(.tooLarge, path: path,
                   "the image is \(width)×\(height) pixels; the limit is \(maxWidth)×\(maxHeight) and \(maxPixels) pixels in all")
    }
}
