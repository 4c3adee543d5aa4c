import Glibc

/// The clip formats `VideoEncoder` writes.
public enum VideoFormat: String, Sendable, CaseIterable {
    /// H.264 (x264, 4:2:0, constant quality) in MP4. Width and height must be even.
    case mp4
    /// VP8 (constant quality) in WebM.
    case webm
    /// Looping animated GIF89a, one 256-colour palette shared by all frames.
    case gif
    /// A folder of lossless PNG frames, `frame_0000.png`, `frame_0001.png`, …
    case png

    /// The format a path asks for: `.mp4`, `.webm`, `.gif` by extension (any case); a path
    /// ending in "/", an existing directory, or a name without an extension means a PNG folder.
    public static func inferred(fromPath path: String) throws(MediaError) -> VideoFormat {
        if path.hasSuffix("/") { return .png }
        var info = stat()
        if stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR { return .png }
        let name = path.split(separator: "/", omittingEmptySubsequences: false).last.map(String.init) ?? path
        // A leading dot marks a hidden name, not an extension (".frames" is a folder).
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return .png }
        let suffix = name[name.index(after: dot)...].lowercased()
        switch suffix {
        case "mp4": return .mp4
        case "webm": return .webm
        case "gif": return .gif
        default:
            throw MediaError(.unsupportedFormat, path: path,
                             "cannot tell the video format from \".\(suffix)\": use .mp4, .webm or .gif, or a folder path (ending in \"/\") for PNG frames")
        }
    }

    /// Whether the output is a directory of frames rather than one file.
    var isFolder: Bool { self == .png }
}
