import CGStreamer
import Imaging

/// `<source> ! decodebin ! videoconvert ! video/x-raw,format=RGB ! appsink`, run until the first
/// frame arrives, an error is posted, the stream ends without a frame, or time runs out.
final class DecodePipeline {
    let source: UnsafeMutablePointer<GstElement>
    private let pipeline: Pipeline
    private let sink: UnsafeMutablePointer<GstAppSink>
    private let watch: SizeWatch
    private let label: String

    init(sourceFactory: String, label: String, limits: ImageLimits) throws(MediaError) {
        try GStreamer.require([sourceFactory, "decodebin", "videoconvert", "appsink"], for: "decoding an image")
        // Fixed text only: the path or descriptor is set as a property afterwards.
        let description = "\(sourceFactory) name=src ! decodebin name=dec ! videoconvert name=conv"
            + " ! video/x-raw,format=RGB ! appsink name=sink sync=false max-buffers=1 enable-last-sample=false"
        let pipeline: Pipeline
        do throws(MediaError) {
            pipeline = try Pipeline(description, purpose: "decoding \(label)")
        } catch {
            throw MediaError(error.kind == .missingElement ? .missingElement : .undecodable, path: label, error.message)
        }
        guard let source = pipeline.child("src"), let sink = pipeline.child("sink") else {
            throw MediaError(.undecodable, path: label, "the decoding pipeline lacks its source or sink")
        }
        self.pipeline = pipeline
        self.source = source
        self.sink = UnsafeMutableRawPointer(sink).assumingMemoryBound(to: GstAppSink.self)
        self.label = label
        self.watch = SizeWatch(limits: limits, label: label)
        watch.install(on: pipeline, decoder: "dec", converter: "conv")
    }

    /// Runs the pipeline; `data`, when given, is pushed into the appsrc source, then end-of-stream.
    func firstFrame(feeding data: [UInt8]?, timeoutNanoseconds: UInt64) throws(MediaError) -> RGBImage {
        if let problem = pipeline.play() {
            throw watch.refusal ?? MediaError(.undecodable, path: label, "cannot decode the image: \(problem)")
        }
        if let data { feed(data) }
        let deadline = GStreamer.now() + timeoutNanoseconds
        let slice = GstClockTime(GStreamer.second / 50)
        while true {
            if let refusal = watch.refusal { throw refusal }
            if let sample = gst_app_sink_try_pull_sample(sink, slice) {
                defer { gst_sample_unref(sample) }
                return try image(from: sample)
            }
            if let refusal = watch.refusal { throw refusal }
            switch pipeline.next(waitingNanoseconds: 0) {
            case .error(let text)?:
                throw MediaError(.undecodable, path: label, "not a decodable image: \(text)")
            case .endOfStream?:
                throw MediaError(.undecodable, path: label, "the stream ended without an image frame")
            case nil:
                break
            }
            if gst_app_sink_is_eos(sink) != 0 {
                throw MediaError(.undecodable, path: label, "the stream ended without an image frame")
            }
            if GStreamer.now() > deadline {
                throw MediaError(.timedOut, path: label, "decoding took longer than \(timeoutNanoseconds / GStreamer.second) s; gave up")
            }
        }
    }

    private func feed(_ data: [UInt8]) {
        let appsrc = UnsafeMutableRawPointer(source).assumingMemoryBound(to: GstAppSrc.self)
        if let buffer = gst_buffer_new_allocate(nil, gsize(data.count), nil) {
            _ = data.withUnsafeBytes { bytes in
                gst_buffer_fill(buffer, 0, bytes.baseAddress, gsize(bytes.count))
            }
            _ = gst_app_src_push_buffer(appsrc, buffer)  // takes the buffer
        }
        _ = gst_app_src_end_of_stream(appsrc)
    }

    /// Copies the RGB frame out row by row: GStreamer pads RGB rows to a multiple of 4 bytes.
    private func image(from sample: OpaquePointer) throws(MediaError) -> RGBImage {
        guard let caps = gst_sample_get_caps(sample), let buffer = gst_sample_get_buffer(sample) else {
            throw MediaError(.undecodable, path: label, "the decoder produced a frame without a format")
        }
        var info = GstVideoInfo()
        gst_video_info_init(&info)
        guard gst_video_info_from_caps(&info, caps) != 0, info.finfo.pointee.format == GST_VIDEO_FORMAT_RGB else {
            throw MediaError(.undecodable, path: label, "the decoder produced a frame in an unexpected format")
        }
        let width = Int(info.width), height = Int(info.height)
        guard watch.limits.allows(width: width, height: height) else {
            throw watch.limits.refusal(width: width, height: height, path: label)
        }
        var frame = GstVideoFrame()
        guard gst_video_frame_map(&frame, &info, buffer, GST_MAP_READ) != 0, let plane = frame.data.0 else {
            throw MediaError(.undecodable, path: label, "the decoded frame could not be read")
        }
        defer { gst_video_frame_unmap(&frame) }
        let stride = Int(frame.info.stride.0)
        let rowBytes = width * 3
        let source = UnsafeRawPointer(plane)
        let pixels = [UInt8](unsafeUninitializedCapacity: rowBytes * height) { out, count in
            guard let base = out.baseAddress else { count = 0; return }
            for row in 0..<height {
                UnsafeMutableRawPointer(base + row * rowBytes)
                    .copyMemory(from: source.advanced(by: row * stride), byteCount: rowBytes)
            }
            count = rowBytes * height
        }
        do {
            return try RGBImage(width: width, height: height, pixels: pixels)
        } catch {
            throw MediaError(.undecodable, path: label, "the decoder produced an unusable frame: \(error)")
        }
    }
}
