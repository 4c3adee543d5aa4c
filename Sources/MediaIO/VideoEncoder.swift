import Glibc
import Imaging

/// Writes clips: MP4 (H.264), WebM (VP8), animated GIF, or a folder of PNG frames.
public enum VideoEncoder {
    /// Encodes `frames` (all the same size) at `fps` frames per second into `path`.
    ///
    /// The result is built under a hidden temporary name in the same directory and renamed into
    /// place only when complete; on any failure or cancellation nothing is left at `path` (an
    /// earlier file there is untouched) and the temporary is removed.
    ///
    /// - `overwrite`: replace an existing file; for a PNG folder, replace an existing folder
    ///   only if it holds nothing but `frame_NNNN.png` files (an earlier output). A non-empty
    ///   folder with anything else in it is always refused. With `false`, an existing file or
    ///   non-empty folder is refused.
    /// - `isCancelled` is polled between frames and while the encoder finishes.
    /// - MP4 needs an even width and height (H.264 4:2:0); GIF allows at most 50 fps.
    public static func write(
        frames: [RGBImage], fps: Int, to path: String, format: VideoFormat,
        overwrite: Bool = true, isCancelled: @Sendable () -> Bool = { false }
    ) throws(MediaError) {
        try validate(frames, fps: fps, format: format, path: path)
        if !isAvailable(format) {
            try GStreamer.require(GStreamerVideoWriter.elements(for: format), for: "writing \(format.rawValue)")
        }
        let target = try OutputTarget(path: path, isFolder: format.isFolder, overwrite: overwrite)
        let label = target.path
        let temporary = target.temporaryPath()
        do throws(MediaError) {
            if isCancelled() { throw MediaError(.cancelled, path: label, "the encode was cancelled") }
            switch format {
            case .mp4, .webm:
                try GStreamerVideoWriter.encodeFile(frames, fps: fps, format: format, to: temporary, label: label, isCancelled: isCancelled)
            case .png:
                guard mkdir(temporary, 0o755) == 0 else { throw OutputTarget.ioError(label, "cannot create a folder next to it") }
                try GStreamerVideoWriter.encodePNGFolder(frames, fps: fps, into: temporary, label: label, isCancelled: isCancelled)
            case .gif:
                let bytes: [UInt8]
                do throws(MediaError) {
                    bytes = try GIFEncoder.encode(frames: frames, fps: fps, isCancelled: isCancelled)
                } catch {
                    throw MediaError(error.kind, path: label, error.message)
                }
                try OutputTarget.writeNewFile(temporary, bytes: bytes)
            }
            if isCancelled() { throw MediaError(.cancelled, path: label, "the encode was cancelled") }
            try target.commit(temporary: temporary)
        } catch {
            OutputTarget.remove(temporary)
            throw error
        }
    }

    /// Whether the GStreamer elements this format needs are installed (GIF needs none).
    public static func isAvailable(_ format: VideoFormat) -> Bool {
        GStreamerVideoWriter.elements(for: format).allSatisfy(GStreamer.hasElement)
    }

    /// Refuses what cannot make a clip, before anything is created.
    private static func validate(_ frames: [RGBImage], fps: Int, format: VideoFormat, path: String) throws(MediaError) {
        guard let first = frames.first else {
            throw MediaError(.invalidInput, path: path, "there are no frames to write")
        }
        let maximumFPS = format == .gif ? GIFEncoder.maximumFPS : 240
        guard (1...maximumFPS).contains(fps) else {
            throw MediaError(.invalidInput, path: path, "\(fps) frames per second is outside 1…\(maximumFPS) for \(format.rawValue)")
        }
        for (index, frame) in frames.enumerated() {
            guard frame.width == first.width, frame.height == first.height else {
                throw MediaError(.invalidInput, path: path,
                                 "frame \(index) is \(frame.width)×\(frame.height) but frame 0 is \(first.width)×\(first.height); all frames must be the same size")
            }
        }
        if format == .gif, first.width > 65535 || first.height > 65535 {
            throw MediaError(.invalidInput, path: path, "GIF frames are at most 65535×65535")
        }
        if format == .mp4, !first.width.isMultiple(of: 2) || !first.height.isMultiple(of: 2) {
            throw MediaError(.invalidInput, path: path,
                             "H.264 in MP4 needs an even width and height (4:2:0 chroma), got \(first.width)×\(first.height); crop or pad to an even size, or write .webm, .gif or PNG frames")
        }
    }
}
