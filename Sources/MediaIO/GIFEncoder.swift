import CGIF
import Imaging

/// Animated GIF89a. Debian's GStreamer has no GIF encoder (no `gifenc`, no `avenc_gif`), so the
/// framing and LZW come from giflib; the colour table is ours (`GIFPalette`: one table shared by
/// every frame, exact when a clip has at most 256 colours, refined median cut otherwise; giflib's
/// own quantiser works per frame on 5-bit colour, which flickers and bands). Full frames kept
/// in place (disposal "do not dispose"), looping forever (NETSCAPE2.0 extension). Delays are
/// whole hundredths of a second, so frame i ends at round(100·(i+1)/fps) cs: the delays
/// alternate where 100/fps is fractional and the total stays exact.
enum GIFEncoder {
    /// The highest rate whose frame delay (2 cs) players honour; they slow shorter delays down.
    static let maximumFPS = 50

    static func encode(frames: [RGBImage], fps: Int, isCancelled: () -> Bool) throws(MediaError) -> [UInt8] {
        guard let first = frames.first else { return [] }
        let palette = GIFPalette(frames: frames)
        let output = GIFOutput()
        var status: Int32 = 0
        guard let gif = EGifOpen(Unmanaged.passUnretained(output).toOpaque(), { gif, bytes, count in
            guard let gif, let bytes, count >= 0, let context = gif.pointee.UserData else { return 0 }
            Unmanaged<GIFOutput>.fromOpaque(context).takeUnretainedValue().bytes
                .append(contentsOf: UnsafeBufferPointer(start: bytes, count: Int(count)))
            return count
        }, &status) else {
            throw Self.failure("cannot start the GIF", status)
        }
        var open = true
        defer { if open { EGifCloseFile(gif, &status) } }
        EGifSetGifVersion(gif, true)

        let colors = palette.table.count / 3
        guard let map = GifMakeMapObject(Int32(colors), nil) else { throw Self.failure("cannot make the colour table", D_GIF_ERR_NOT_ENOUGH_MEM) }
        defer { GifFreeMapObject(map) }
        for entry in 0..<colors {
            map.pointee.Colors[entry] = GifColorType(Red: palette.table[3 * entry], Green: palette.table[3 * entry + 1],
                                                     Blue: palette.table[3 * entry + 2])
        }
        try check(gif, EGifPutScreenDesc(gif, Int32(first.width), Int32(first.height), 8, 0, map), "the screen descriptor")
        // Loop forever: the NETSCAPE2.0 application extension with a loop count of 0.
        try check(gif, EGifPutExtensionLeader(gif, APPLICATION_EXT_FUNC_CODE), "the loop extension")
        try check(gif, Array("NETSCAPE2.0".utf8).withUnsafeBufferPointer { EGifPutExtensionBlock(gif, 11, $0.baseAddress) }, "the loop extension")
        try check(gif, [UInt8(1), 0, 0].withUnsafeBufferPointer { EGifPutExtensionBlock(gif, 3, $0.baseAddress) }, "the loop extension")
        try check(gif, EGifPutExtensionTrailer(gif), "the loop extension")

        for (index, frame) in frames.enumerated() {
            if isCancelled() { throw MediaError(.cancelled, "the GIF encode was cancelled") }
            let delay = centiseconds(until: index + 1, fps: fps) - centiseconds(until: index, fps: fps)
            // Graphic control: disposal 1 (leave in place), no transparency, the delay.
            let control: [UInt8] = [0x04, UInt8(delay & 0xFF), UInt8((delay >> 8) & 0xFF), 0x00]
            try check(gif, control.withUnsafeBufferPointer { EGifPutExtension(gif, GRAPHICS_EXT_FUNC_CODE, 4, $0.baseAddress) },
                      "frame \(index + 1)'s timing")
            // The whole screen, no local table, not interlaced.
            try check(gif, EGifPutImageDesc(gif, 0, 0, Int32(frame.width), Int32(frame.height), false, nil), "frame \(index + 1)")
            var indices = palette.indices(of: frame)
            try indices.withUnsafeMutableBufferPointer { pixels throws(MediaError) in
                for row in 0..<frame.height {
                    try check(gif, EGifPutLine(gif, pixels.baseAddress! + row * frame.width, Int32(frame.width)), "frame \(index + 1)")
                }
            }
        }
        open = false
        guard EGifCloseFile(gif, &status) == GIF_OK else { throw Self.failure("cannot finish the GIF", status) }
        return output.bytes
    }

    private static func check(_ gif: UnsafeMutablePointer<GifFileType>, _ result: Int32, _ what: String) throws(MediaError) {
        guard result == GIF_OK else { throw failure("cannot write \(what)", gif.pointee.Error) }
    }

    private static func failure(_ what: String, _ code: Int32) -> MediaError {
        let reason = GifErrorString(code).map { String(cString: $0) } ?? "giflib error \(code)"
        return MediaError(.encodeFailed, "\(what): \(reason)")
    }

    private static func centiseconds(until frame: Int, fps: Int) -> Int {
        (frame * 200 + fps) / (2 * fps)
    }
}

/// Where giflib's output callback appends the encoded bytes (reached through the file's
/// `UserData`; used on one thread, for one encode).
private final class GIFOutput {
    var bytes: [UInt8] = []
}
