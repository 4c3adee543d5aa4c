import Imaging
import MediaIO
import TensorCore

/// Turns an `ImageSource` into the model's input: reads the descriptor (bounded in size and
/// time), decodes encoded images with GStreamer (the size limits are checked on the
/// negotiated caps, before the decoder allocates a frame), unpacks raw pixels, and resizes and
/// crops to the model's frame size as the reference does. Run off any latency-sensitive
/// thread: decoding takes milliseconds to seconds.
public struct ImageReader: Sendable {
    public let limits: InputLimits

    public init(limits: InputLimits = .default) {
        self.limits = limits
    }

    /// The image at its own size, 8-bit RGB. `what` names it in messages ("image", "end image").
    public func read(_ source: ImageSource, what: String = "image") throws(ServiceError) -> RGBImage {
        try read(source, what: what, ticket: nil)
    }

    func read(_ source: ImageSource, what: String, ticket: IntakeTicket?) throws(ServiceError) -> RGBImage {
        switch source {
        case .encoded(let fd):
            let bytes = try DescriptorIO.readAll(fd, what: what, limit: limits.maxEncodedBytes, timeout: limits.readTimeout, ticket: ticket)
            guard !bytes.isEmpty else { throw .invalidImage("the \(what) is empty") }
            do {
                return try ImageDecoder.decode(data: bytes, limits: limits.imageLimits)
            } catch {
                throw Self.mapDecode(error, what: what)
            }
        case .raw(let fd, let layout):
            try layout.validate(limits: limits)
            // One byte more than expected is enough to tell that there is too much.
            let bytes = try DescriptorIO.readAll(fd, what: what, limit: layout.byteCount + 1, timeout: limits.readTimeout, ticket: ticket)
            guard bytes.count == layout.byteCount else {
                throw .invalidImage("the raw \(what) holds \(bytes.count == layout.byteCount + 1 ? "more than \(layout.byteCount)" : "\(bytes.count)") bytes; \(layout.format.rawValue) \(layout.width)×\(layout.height) with stride \(layout.stride) needs exactly stride × height = \(layout.byteCount)")
            }
            return try Self.unpack(bytes, layout: layout)
        }
    }

    /// The image resized (shorter side) and center-cropped to `width`×`height`, exactly as the
    /// pipeline's own preparation does (which leaves an image of the right size unchanged).
    public func read(_ source: ImageSource, what: String = "image", fittingWidth width: Int, height: Int) throws(ServiceError) -> RGBImage {
        try read(source, what: what, fittingWidth: width, height: height, ticket: nil)
    }

    func read(_ source: ImageSource, what: String, fittingWidth width: Int, height: Int, ticket: IntakeTicket?) throws(ServiceError) -> RGBImage {
        let image = try read(source, what: what, ticket: ticket)
        do {
            return try ImagePreprocessing.resizeAndCenterCrop(image, height: height, width: width)
        } catch {
            throw .internal("cannot resize the \(what) to \(width)×\(height): \(error)")
        }
    }

    static func unpack(_ bytes: [UInt8], layout: RawPixelLayout) throws(ServiceError) -> RGBImage {
        let (width, height, stride) = (layout.width, layout.height, layout.stride)
        let bpp = layout.format.bytesPerPixel
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        bytes.withUnsafeBufferPointer { source in
            pixels.withUnsafeMutableBufferPointer { target in
                for y in 0..<height {
                    let row = y * stride
                    let out = y * width * 3
                    if bpp == 3 {
                        for i in 0..<(width * 3) { target[out + i] = source[row + i] }
                    } else {
                        for x in 0..<width {
                            target[out + x * 3] = source[row + x * 4]
                            target[out + x * 3 + 1] = source[row + x * 4 + 1]
                            target[out + x * 3 + 2] = source[row + x * 4 + 2]
                        }
                    }
                }
            }
        }
        do {
            return try RGBImage(width: width, height: height, pixels: pixels)
        } catch {
            throw .internal("cannot build the raw image: \(error)")
        }
    }

    static func mapDecode(_ error: MediaError, what: String) -> ServiceError {
        switch error.kind {
        case .missingElement, .encodeFailed:
            return .internal("cannot decode the \(what): \(error.message)")
        case .tooLarge:
            return .invalidImage("the \(what) is too large: \(error.message)")
        default:
            return .invalidImage("the \(what) could not be decoded: \(error.message)")
        }
    }
}
