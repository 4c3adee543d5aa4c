import CGStreamer
import Imaging

/// MP4 (H.264) and WebM (VP8) files, and folders of PNG frames, through GStreamer:
/// `appsrc ! videoconvert ! video/x-raw,format=I420 ! encoder ! muxer ! filesink` and
/// `appsrc ! pngenc ! appsink`. Frames are pushed from the calling thread, which also watches
/// the bus, so an encoder error, a cancellation or a stall ends the encode promptly.
enum GStreamerVideoWriter {
    static func elements(for format: VideoFormat) -> [String] {
        switch format {
        case .mp4: ["appsrc", "videoconvert", "x264enc", "mp4mux", "filesink"]
        case .webm: ["appsrc", "videoconvert", "vp8enc", "webmmux", "filesink"]
        case .png: ["appsrc", "pngenc", "appsink"]
        case .gif: []
        }
    }

    /// Writes an MP4 or WebM file at `file` (a temporary name); `label` is the path the user asked for.
    static func encodeFile(
        _ frames: [RGBImage], fps: Int, format: VideoFormat, to file: String, label: String,
        isCancelled: () -> Bool
    ) throws(MediaError) {
        let description: String
        switch format {
        case .mp4:
            description = "appsrc name=src ! videoconvert ! video/x-raw,format=I420 ! x264enc name=enc ! mp4mux ! filesink name=sink"
        case .webm:
            description = "appsrc name=src ! videoconvert ! video/x-raw,format=I420 ! vp8enc name=enc ! webmmux ! filesink name=sink"
        case .gif, .png:
            throw MediaError(.unsupportedFormat, path: label, "\(format.rawValue) is not written through a GStreamer muxer")
        }
        let pipeline = try Pipeline(description, purpose: "writing \(label)")
        guard let source = pipeline.child("src"), let encoder = pipeline.child("enc"), let sink = pipeline.child("sink") else {
            throw MediaError(.encodeFailed, path: label, "the encoding pipeline is incomplete")
        }
        let first = frames[0]
        configure(encoder, format: format, width: first.width, height: first.height, fps: fps)
        dcgst_set_string(sink, "location", file)
        let feeder = try FrameFeeder(appsrc: source, width: first.width, height: first.height, fps: fps)
        let watch = Watch(pipeline: pipeline, label: label, frames: frames.count)
        if let problem = pipeline.play() {
            throw MediaError(.encodeFailed, path: label, "GStreamer could not start encoding: \(problem)")
        }
        // Keep a few frames queued: enough to keep the encoder busy, bounded in memory.
        let queueLimit = UInt64(max(4 * feeder.frameBytes, 1 << 22))
        for (index, frame) in frames.enumerated() {
            while feeder.queuedBytes > queueLimit {
                try watch.check(waiting: GStreamer.second / 100, isCancelled)
            }
            try watch.check(waiting: 0, isCancelled)
            guard feeder.push(frame, index: index) else {
                try watch.check(waiting: GStreamer.second, isCancelled)
                throw MediaError(.encodeFailed, path: label, "GStreamer stopped accepting frames at frame \(index)")
            }
        }
        feeder.finish()
        while try !watch.check(waiting: GStreamer.second / 20, isCancelled) {}
        pipeline.stop()  // closes the file
        try OutputTarget.flushToDisk(file)
    }

    /// Writes each frame as `frame_NNNN.png` into `folder` (an existing, empty temporary folder).
    static func encodePNGFolder(
        _ frames: [RGBImage], fps: Int, into folder: String, label: String, isCancelled: () -> Bool
    ) throws(MediaError) {
        let pipeline = try Pipeline("appsrc name=src ! pngenc snapshot=false ! appsink name=sink sync=false",
                                    purpose: "writing PNG frames to \(label)")
        guard let source = pipeline.child("src"), let sinkElement = pipeline.child("sink") else {
            throw MediaError(.encodeFailed, path: label, "the encoding pipeline is incomplete")
        }
        let sink = UnsafeMutableRawPointer(sinkElement).assumingMemoryBound(to: GstAppSink.self)
        let first = frames[0]
        let feeder = try FrameFeeder(appsrc: source, width: first.width, height: first.height, fps: fps)
        let watch = Watch(pipeline: pipeline, label: label, frames: frames.count)
        if let problem = pipeline.play() {
            throw MediaError(.encodeFailed, path: label, "GStreamer could not start encoding: \(problem)")
        }
        let digits = max(4, String(frames.count - 1).count)
        for (index, frame) in frames.enumerated() {
            try watch.check(waiting: 0, isCancelled)
            guard feeder.push(frame, index: index) else {
                try watch.check(waiting: GStreamer.second, isCancelled)
                throw MediaError(.encodeFailed, path: label, "GStreamer stopped accepting frames at frame \(index)")
            }
            var encoded: [UInt8]?
            while encoded == nil {
                if let sample = gst_app_sink_try_pull_sample(sink, GstClockTime(GStreamer.second / 50)) {
                    encoded = bytes(of: sample)
                    gst_sample_unref(sample)
                    if encoded == nil {
                        throw MediaError(.encodeFailed, path: label, "pngenc produced an unreadable buffer")
                    }
                } else if try watch.check(waiting: 0, isCancelled) {
                    throw MediaError(.encodeFailed, path: label, "the PNG encoder stopped before frame \(index)")
                }
            }
            if let encoded {
                try OutputTarget.writeNewFile("\(folder)/\(OutputTarget.frameName(index, digits: digits))", bytes: encoded)
            }
        }
        feeder.finish()
    }

    private static func bytes(of sample: OpaquePointer) -> [UInt8]? {
        guard let buffer = gst_sample_get_buffer(sample) else { return nil }
        var map = GstMapInfo()
        guard gst_buffer_map(buffer, &map, GST_MAP_READ) != 0 else { return nil }
        defer { gst_buffer_unmap(buffer, &map) }
        return [UInt8](UnsafeRawBufferPointer(start: map.data, count: Int(map.size)))
    }

    /// Quality settings: visually near-lossless, moderate speed.
    private static func configure(_ encoder: UnsafeMutablePointer<GstElement>, format: VideoFormat, width: Int, height: Int, fps: Int) {
        let object = UnsafeMutableRawPointer(encoder).assumingMemoryBound(to: GObject.self)
        switch format {
        case .mp4:
            // Constant quality (CRF 18), no B-frames; the defaults otherwise (High profile, 4:2:0).
            gst_util_set_object_arg(object, "speed-preset", "medium")
            gst_util_set_object_arg(object, "pass", "qual")
            dcgst_set_uint(encoder, "quantizer", 18)
            dcgst_set_uint(encoder, "bframes", 0)
        case .webm:
            // Constrained quality: cq-level sets the quality, the bitrate is only a generous cap
            // (about 2 bits per pixel per frame).
            gst_util_set_object_arg(object, "end-usage", "cq")
            dcgst_set_int(encoder, "cq-level", 10)
            dcgst_set_int(encoder, "max-quantizer", 40)
            let cap = min(Int(Int32.max), max(1_000_000, 2 * width * height * fps))
            dcgst_set_int(encoder, "target-bitrate", gint(cap))
            dcgst_set_int64(encoder, "deadline", 1_000_000)  // libvpx "good quality"
            dcgst_set_int(encoder, "cpu-used", 4)
        case .gif, .png:
            break
        }
    }

    /// Watches one encode: bus errors, end-of-stream, cancellation and a deadline that grows
    /// with the number of frames.
    private struct Watch {
        let pipeline: Pipeline
        let label: String
        let deadline: UInt64

        init(pipeline: Pipeline, label: String, frames: Int) {
            self.pipeline = pipeline
            self.label = label
            deadline = GStreamer.now() + (60 + 5 * UInt64(frames)) * GStreamer.second
        }

        /// Waits up to `waiting` nanoseconds for news; true once the stream has ended.
        @discardableResult
        func check(waiting: UInt64, _ isCancelled: () -> Bool) throws(MediaError) -> Bool {
            if isCancelled() { throw MediaError(.cancelled, path: label, "the encode was cancelled") }
            switch pipeline.next(waitingNanoseconds: waiting) {
            case .error(let text)?:
                throw MediaError(.encodeFailed, path: label, "GStreamer could not encode the video: \(text)")
            case .endOfStream?:
                return true
            case nil:
                if GStreamer.now() > deadline {
                    throw MediaError(.timedOut, path: label, "encoding made no progress before its deadline; gave up")
                }
                return false
            }
        }
    }
}
