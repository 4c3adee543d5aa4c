import DiffusionPipeline

/// Where a job's input image comes from: an open file descriptor (borrowed: the service reads
/// it during `JobEngine.submit` and never closes it) holding an encoded image, or raw pixels.
public enum ImageSource: Sendable, Equatable {
    /// An encoded image (PNG, JPEG, WebP, … whatever GStreamer decodes).
    case encoded(fileDescriptor: Int32)
    /// Raw 8-bit pixels laid out as `layout` says.
    case raw(fileDescriptor: Int32, layout: RawPixelLayout)

    var fileDescriptor: Int32 {
        switch self {
        case .encoded(let fd), .raw(let fd, _): fd
        }
    }
}

/// The layout of raw pixels: rows of `stride` bytes, each starting with `width` pixels of
/// three (RGB) or four (RGBA) bytes.
public struct RawPixelLayout: Sendable, Equatable {
    public enum Format: String, Sendable, CaseIterable {
        case rgb = "RGB"
        case rgba = "RGBA"

        public var bytesPerPixel: Int { self == .rgb ? 3 : 4 }
    }

    public var format: Format
    public var width: Int
    public var height: Int
    public var stride: Int

    public init(format: Format, width: Int, height: Int, stride: Int) {
        self.format = format
        self.width = width
        self.height = height
        self.stride = stride
    }

    /// The number of bytes the descriptor must hold.
    public var byteCount: Int { stride * height }

    /// Refuses sizes outside the documented limits and strides too short for a row.
    public func validate(limits: InputLimits) throws(ServiceError) {
        guard (1...limits.maxSide).contains(width) else {
            throw .invalidArgument("width \(width) is out of range: allowed 1…\(limits.maxSide)")
        }
        guard (1...limits.maxSide).contains(height) else {
            throw .invalidArgument("height \(height) is out of range: allowed 1…\(limits.maxSide)")
        }
        guard width * height <= limits.maxPixels else {
            throw .invalidImage("the raw image is \(width)×\(height) = \(width * height) pixels; the limit is \(limits.maxPixels) pixels in all")
        }
        let row = width * format.bytesPerPixel
        guard stride >= row else {
            throw .invalidArgument("stride \(stride) is shorter than one row of \(width) \(format.rawValue) pixels (\(row) bytes)")
        }
        let (total, overflow) = stride.multipliedReportingOverflow(by: height)
        guard !overflow, total <= limits.maxRawBytes else {
            throw .invalidImage("stride \(stride) × height \(height) is more than the \(limits.maxRawBytes >> 20) MiB a raw image may hold")
        }
    }
}

/// The containers a job's result can be written in to an output descriptor.
public enum OutputFormat: String, Sendable, CaseIterable {
    /// H.264 in MP4.
    case mp4
    /// VP8 in WebM.
    case webm
    /// Animated GIF.
    case gif
    /// The frames as tightly packed RGB, frame after frame, no header.
    case raw
}

/// Where a job writes its result: a writable descriptor (borrowed; the engine duplicates it on
/// a successful submit and closes its duplicate when the job ends).
public struct OutputRequest: Sendable, Equatable {
    public var fileDescriptor: Int32
    public var format: OutputFormat

    public init(fileDescriptor: Int32, format: OutputFormat = .mp4) {
        self.fileDescriptor = fileDescriptor
        self.format = format
    }
}

/// Everything a client asks for in one job.
public struct AnimationRequest: Sendable {
    /// Who asked: an opaque client identity (the D-Bus layer uses the caller's unique name).
    /// Jobs can be cancelled by owner, e.g. when a client goes away.
    public var owner: String
    /// The model's name as `ModelRegistry` lists it; nil = the loaded model, else the default.
    public var model: String?
    public var options: AnimationOptions
    public var image: ImageSource
    /// The last frame, for `interpolate`.
    public var endImage: ImageSource?
    /// nil: the frames are kept for `JobEngine.takeFrames`.
    public var output: OutputRequest?

    public init(owner: String, model: String? = nil, options: AnimationOptions = AnimationOptions(),
                image: ImageSource, endImage: ImageSource? = nil, output: OutputRequest? = nil) {
        self.owner = owner
        self.model = model
        self.options = options
        self.image = image
        self.endImage = endImage
        self.output = output
    }
}
