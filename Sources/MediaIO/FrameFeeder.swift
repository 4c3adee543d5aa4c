import CGStreamer
import Imaging

/// Pushes `RGBImage`s into an appsrc as timed raw video: caps
/// `video/x-raw,format=RGB,width,height,framerate=fps/1`, frame i at i/fps seconds.
struct FrameFeeder {
    private let appsrc: UnsafeMutablePointer<GstAppSrc>
    private var info: GstVideoInfo
    private let fps: Int

    init(appsrc element: UnsafeMutablePointer<GstElement>, width: Int, height: Int, fps: Int) throws(MediaError) {
        var info = GstVideoInfo()
        gst_video_info_init(&info)
        guard gst_video_info_set_format(&info, GST_VIDEO_FORMAT_RGB, guint(width), guint(height)) != 0 else {
            throw MediaError(.invalidInput, "GStreamer cannot describe a \(width)×\(height) RGB frame")
        }
        info.fps_n = gint(fps)
        info.fps_d = 1
        guard let timedCaps = gst_video_info_to_caps(&info) else {
            throw MediaError(.invalidInput, "GStreamer cannot describe \(fps) frames per second")
        }
        dcgst_set_caps(element, "caps", timedCaps)
        gst_caps_unref(timedCaps)
        gst_util_set_object_arg(UnsafeMutableRawPointer(element).assumingMemoryBound(to: GObject.self), "format", "time")
        self.appsrc = UnsafeMutableRawPointer(element).assumingMemoryBound(to: GstAppSrc.self)
        self.info = info
        self.fps = fps
    }

    /// Bytes waiting in the appsrc queue: the caller throttles on this instead of letting
    /// appsrc block, because a blocked push could never see a downstream error.
    var queuedBytes: UInt64 { UInt64(gst_app_src_get_current_level_bytes(appsrc)) }

    /// The size of one frame as GStreamer lays it out (rows padded to 4 bytes).
    var frameBytes: Int { Int(info.size) }

    /// Copies the frame into a GStreamer buffer (row by row into the padded layout) and queues it.
    func push(_ frame: RGBImage, index: Int) -> Bool {
        guard let buffer = gst_buffer_new_allocate(nil, gsize(info.size), nil) else { return false }
        var map = GstMapInfo()
        guard gst_buffer_map(buffer, &map, GST_MAP_WRITE) != 0, let target = map.data else {
            gst_buffer_unref(buffer)
            return false
        }
        let stride = Int(info.stride.0)
        let rowBytes = frame.width * 3
        frame.pixels.withUnsafeBytes { source in
            guard let base = source.baseAddress else { return }
            for row in 0..<frame.height {
                UnsafeMutableRawPointer(target + row * stride).copyMemory(from: base + row * rowBytes, byteCount: rowBytes)
            }
        }
        gst_buffer_unmap(buffer, &map)
        let second = GStreamer.second
        let start = gst_util_uint64_scale(guint64(index), guint64(second), guint64(fps))
        let end = gst_util_uint64_scale(guint64(index + 1), guint64(second), guint64(fps))
        buffer.pointee.pts = start
        buffer.pointee.dts = start
        buffer.pointee.duration = end - start
        buffer.pointee.offset = guint64(index)
        return gst_app_src_push_buffer(appsrc, buffer) == GST_FLOW_OK  // takes the buffer
    }

    func finish() {
        _ = gst_app_src_end_of_stream(appsrc)
    }
}
