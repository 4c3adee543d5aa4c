import CGStreamer
import Glibc
import Imaging

/// Decodes still images through GStreamer: `decodebin` picks the decoder (PNG, JPEG, WebP,
/// GIF, … whatever plugins are installed), `videoconvert` turns its output into RGB8 (alpha is
/// dropped), and the first frame is taken. Every decode runs synchronously on the calling
/// thread and gives up after `timeoutSeconds` rather than hang on a stalled source.
public enum ImageDecoder {
    /// How long a decode may take before it is abandoned with `.timedOut`.
    static let timeoutSeconds: UInt64 = 60
    /// How long a decode may wait for others to make room in its `DecodeMemory`: eight
    /// 64-megapixel PNGs one after the other take about a minute on two busy cores.
    static let admissionTimeoutSeconds = 300.0

    public static func decode(path: String, limits: ImageLimits = .default) throws(MediaError) -> RGBImage {
        // Check what GStreamer would only report vaguely ("could not read") ourselves.
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw MediaError(.io, path: path, "cannot open the image: \(String(cString: strerror(errno)))")
        }
        try checkSource(info, label: path)
        let probe = open(path, O_RDONLY | O_CLOEXEC)
        guard probe >= 0 else {
            throw MediaError(.io, path: path, "cannot open the image: \(String(cString: strerror(errno)))")
        }
        defer { close(probe) }
        // Read whole, as the daemon's images are, for the same header checks and memory cap.
        if (info.st_mode & S_IFMT) == S_IFREG, info.st_size <= Self.maxReadBytes {
            var bytes = [UInt8](repeating: 0, count: Int(info.st_size))
            var done = 0
            while done < bytes.count {
                let count = bytes.withUnsafeMutableBytes { pread(probe, $0.baseAddress! + done, $0.count - done, off_t(done)) }
                if count < 0, errno == EINTR { continue }
                guard count >= 0 else {
                    throw MediaError(.io, path: path, "cannot read the image: \(String(cString: strerror(errno)))")
                }
                if count == 0 { break }
                done += count
            }
            bytes.removeLast(bytes.count - done)
            return try decode(data: bytes, label: path, limits: limits, memory: .shared, availableBytes: nil) { $0 }
        }
        return try run(source: "filesrc", label: path, limits: limits) { source in
            dcgst_set_string(source, "location", path)
        }
    }

    /// Files up to this size are read into memory and decoded from there.
    static let maxReadBytes = 256 << 20

    /// Reads the image from an open file descriptor until end of file. A regular file or memfd
    /// is read from its start whatever its current offset (a sender may just have written it);
    /// a pipe or socket from where it stands. The descriptor stays open and owned by the caller.
    public static func decode(fileDescriptor: Int32, limits: ImageLimits = .default) throws(MediaError) -> RGBImage {
        let label = "file descriptor \(fileDescriptor)"
        var info = stat()
        guard fstat(fileDescriptor, &info) == 0 else {
            throw MediaError(.io, path: label, "cannot read the image: \(String(cString: strerror(errno)))")
        }
        try checkSource(info, label: label)
        if (info.st_mode & S_IFMT) == S_IFREG, lseek(fileDescriptor, 0, SEEK_SET) != 0 {
            throw MediaError(.io, path: label, "cannot rewind the file: \(String(cString: strerror(errno)))")
        }
        return try run(source: "fdsrc", label: label, limits: limits) { source in
            dcgst_set_int(source, "fd", fileDescriptor)
        }
    }

    /// Decodes an image held in memory (the encoded file's bytes).
    public static func decode(data: [UInt8], limits: ImageLimits = .default) throws(MediaError) -> RGBImage {
        try decode(data: data, limits: limits, memory: .shared, availableBytes: nil) { $0 }
    }

    /// Decodes an image held in memory and hands it to `use` (to scale it down, say) while its
    /// memory is still reserved in `memory`, so the full-size copy counts until `use` is done.
    /// The header is read first: a damaged PNG is refused naming the fault, an image over the
    /// limits before anything is decoded, and one whose decode would take more than
    /// `availableBytes` with `.insufficientMemory`. Waiting for room stops with `.cancelled`
    /// once `giveUp` returns true.
    public static func decode<T>(data: [UInt8], limits: ImageLimits = .default, memory: DecodeMemory,
                                 availableBytes: Int?, giveUp: () -> Bool = { false },
                                 _ use: (RGBImage) -> T) throws(MediaError) -> T {
        try decode(data: data, label: "image data (\(data.count) bytes)", limits: limits, memory: memory,
                   availableBytes: availableBytes, giveUp: giveUp, use)
    }

    private static func decode<T>(data: [UInt8], label: String, limits: ImageLimits, memory: DecodeMemory,
                                  availableBytes: Int?, giveUp: () -> Bool = { false },
                                  _ use: (RGBImage) -> T) throws(MediaError) -> T {
        guard !data.isEmpty else {
            throw MediaError(.undecodable, path: label, "there are no bytes to decode")
        }
        let header: ImageHeader?
        do throws(MediaError) {
            header = try ImageHeader.read(data, limits: limits)
        } catch {
            throw MediaError(error.kind, path: label, error.message)
        }
        let needed: Int
        if let header {
            guard limits.allows(width: header.width, height: header.height) else {
                throw limits.refusal(width: header.width, height: header.height, path: label)
            }
            needed = header.decodeBytes
            if let availableBytes, needed > availableBytes {
                throw MediaError(.insufficientMemory, path: label,
                                 "decoding this \(header.width)×\(header.height) \(header.format.rawValue) takes about \(mebibytes(needed)) MiB; \(mebibytes(availableBytes)) MiB are available")
            }
        } else {
            // Size unknown until GStreamer reads it: reserve what the limits allow at most.
            needed = ImageHeader.decodeBytes(pixels: limits.maxPixels, decoderBytesPerPixel: 8)
        }
        return try memory.withReservation(needed, timeout: admissionTimeoutSeconds, giveUp: giveUp) { () throws(MediaError) -> T in
            let image: RGBImage
            do throws(MediaError) {
                let pipeline = try DecodePipeline(sourceFactory: "appsrc", label: label, limits: limits,
                                                  declaredPixels: header.map { $0.width * $0.height })
                dcgst_set_int64(pipeline.source, "size", gint64(data.count))
                image = try pipeline.firstFrame(feeding: data, timeoutNanoseconds: timeoutSeconds * GStreamer.second)
            } catch {
                // Past the header checks, GStreamer's words ("No valid frames decoded…") mean the
                // data itself is bad.
                if let header, error.kind == .undecodable {
                    throw MediaError(.undecodable, path: label, "the \(header.format.rawValue) image data is corrupt or truncated (\(error.message))")
                }
                throw error
            }
            return use(image)
        }
    }

    static func mebibytes(_ bytes: Int) -> Int { (bytes + (1 << 20) - 1) >> 20 }

    /// Directories and empty regular files are refused up front with a plain reason.
    private static func checkSource(_ info: stat, label: String) throws(MediaError) {
        switch info.st_mode & S_IFMT {
        case S_IFDIR:
            throw MediaError(.undecodable, path: label, "this is a directory, not an image file")
        case S_IFREG where info.st_size == 0:
            throw MediaError(.undecodable, path: label, "the file is empty")
        default:
            break
        }
    }

    private static func run(
        source: String, label: String, limits: ImageLimits,
        configure: (UnsafeMutablePointer<GstElement>) -> Void
    ) throws(MediaError) -> RGBImage {
        let pipeline = try DecodePipeline(sourceFactory: source, label: label, limits: limits)
        configure(pipeline.source)
        return try pipeline.firstFrame(feeding: nil, timeoutNanoseconds: timeoutSeconds * GStreamer.second)
    }
}
