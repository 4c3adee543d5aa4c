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
        close(probe)
        return try run(source: "filesrc", label: path, limits: limits) { source in
            dcgst_set_string(source, "location", path)
        }
    }

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
        let label = "image data (\(data.count) bytes)"
        guard !data.isEmpty else {
            throw MediaError(.undecodable, path: label, "there are no bytes to decode")
        }
        let pipeline = try DecodePipeline(sourceFactory: "appsrc", label: label, limits: limits)
        dcgst_set_int64(pipeline.source, "size", gint64(data.count))
        return try pipeline.firstFrame(feeding: data, timeoutNanoseconds: timeoutSeconds * GStreamer.second)
    }

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
