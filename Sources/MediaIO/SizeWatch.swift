import CGStreamer
import Synchronization

/// Refuses images over the `ImageLimits` as early as GStreamer reveals their size. Two places
/// see it before a full frame exists: `decodebin`'s autoplug-continue (the typefinder and
/// parsers put width and height on PNG and JPEG caps, before any decoder is plugged) and a probe
/// on the caps event that reaches `videoconvert` (every decoder, before the first frame is
/// pushed). A refusal is recorded here and stops the data flow; the decode loop then reports it.
final class SizeWatch: Sendable {
    let limits: ImageLimits
    let label: String
    private let refusalState = Mutex<MediaError?>(nil)

    init(limits: ImageLimits, label: String) {
        self.limits = limits
        self.label = label
    }

    var refusal: MediaError? {
        refusalState.withLock { $0 }
    }

    /// Whether the size on these caps (if they carry a fixed one) is within the limits.
    func admits(_ caps: UnsafePointer<GstCaps>) -> Bool {
        guard gst_caps_get_size(caps) > 0, let structure = gst_caps_get_structure(caps, 0) else { return true }
        var width: gint = 0
        var height: gint = 0
        guard gst_structure_get_int(structure, "width", &width) != 0,
              gst_structure_get_int(structure, "height", &height) != 0 else { return true }
        if limits.allows(width: Int(width), height: Int(height)) { return true }
        let error = limits.refusal(width: Int(width), height: Int(height), path: label)
        refusalState.withLock { if $0 == nil { $0 = error } }
        return false
    }

    /// Connects the checks to a pipeline built as `… ! decodebin name=<decoder> ! videoconvert name=<converter> ! …`.
    /// The pipeline keeps this object alive until it has stopped.
    func install(on pipeline: Pipeline, decoder: String, converter: String) {
        pipeline.retain(self)
        let context = Unmanaged.passUnretained(self).toOpaque()
        if let decodebin = pipeline.child(decoder) {
            let handler: @convention(c) (
                UnsafeMutablePointer<GstElement>?, UnsafeMutablePointer<GstPad>?, UnsafeMutablePointer<GstCaps>?, gpointer?
            ) -> gboolean = { _, _, caps, context in
                guard let caps, let context else { return 1 }
                let watch = Unmanaged<SizeWatch>.fromOpaque(context).takeUnretainedValue()
                // false: plug no decoder; the pad stays raw-less and the pipeline errors out.
                return watch.admits(caps) ? 1 : 0
            }
            _ = dcgst_signal_connect(decodebin, "autoplug-continue", unsafeBitCast(handler, to: GCallback.self), context)
        }
        if let convert = pipeline.child(converter), let pad = gst_element_get_static_pad(convert, "sink") {
            let probe: @convention(c) (
                UnsafeMutablePointer<GstPad>?, UnsafeMutablePointer<GstPadProbeInfo>?, gpointer?
            ) -> GstPadProbeReturn = { _, info, context in
                guard let info, let context, let data = info.pointee.data else { return GST_PAD_PROBE_OK }
                let event = data.assumingMemoryBound(to: GstEvent.self)
                guard event.pointee.type == GST_EVENT_CAPS else { return GST_PAD_PROBE_OK }
                var caps: UnsafeMutablePointer<GstCaps>?
                gst_event_parse_caps(event, &caps)
                guard let caps else { return GST_PAD_PROBE_OK }
                let watch = Unmanaged<SizeWatch>.fromOpaque(context).takeUnretainedValue()
                // Dropping the caps leaves videoconvert unconfigured: the first buffer then
                // fails as not-negotiated and nothing downstream allocates a frame.
                return watch.admits(caps) ? GST_PAD_PROBE_OK : GST_PAD_PROBE_DROP
            }
            _ = gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM, probe, context, nil)
            gst_object_unref(pad)
        }
    }
}
