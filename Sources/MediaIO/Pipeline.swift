import CGStreamer

/// One GStreamer pipeline, driven synchronously by the thread that made it. Building it from a
/// fixed description keeps user input (paths, fds) out of the parser: those are set as
/// properties afterwards. Deinit stops it (state NULL joins every streaming thread) and frees it,
/// so an error thrown anywhere still releases everything.
final class Pipeline {
    let element: UnsafeMutablePointer<GstElement>
    private let bus: UnsafeMutablePointer<GstBus>
    /// Objects the streaming threads reach through callbacks; released only after state NULL.
    private var retained: [AnyObject] = []

    enum Outcome {
        case endOfStream
        case error(String)
    }

    init(_ description: String, purpose: String) throws(MediaError) {
        try GStreamer.initialise()
        var error: UnsafeMutablePointer<GError>?
        let made = gst_parse_launch_full(description, nil, GST_PARSE_FLAG_FATAL_ERRORS, &error)
        if let error {
            let text = String(cString: error.pointee.message)
            let missing = error.pointee.domain == gst_parse_error_quark()
                && error.pointee.code == Int32(GST_PARSE_ERROR_NO_SUCH_ELEMENT.rawValue)
            g_error_free(error)
            if let made { gst_object_unref(made) }
            throw MediaError(missing ? .missingElement : .encodeFailed, "\(purpose): GStreamer could not build its pipeline: \(text)")
        }
        guard let made else {
            throw MediaError(.encodeFailed, "\(purpose): GStreamer could not build its pipeline")
        }
        // The parser hands back a floating reference; sink it so this object owns it.
        _ = gst_object_ref_sink(made)
        element = made
        guard let bus = gst_element_get_bus(made) else {
            gst_object_unref(made)
            throw MediaError(.encodeFailed, "\(purpose): the GStreamer pipeline has no bus")
        }
        self.bus = bus
    }

    deinit {
        gst_element_set_state(element, GST_STATE_NULL)
        gst_object_unref(bus)
        gst_object_unref(element)
        retained.removeAll()
    }

    /// Stops the pipeline now (sinks close their files); deinit repeats it harmlessly.
    func stop() {
        gst_element_set_state(element, GST_STATE_NULL)
    }

    /// Keeps `object` alive until the pipeline has stopped.
    func retain(_ object: AnyObject) {
        retained.append(object)
    }

    /// A named element of the pipeline, borrowed: valid while the pipeline lives.
    func child(_ name: String) -> UnsafeMutablePointer<GstElement>? {
        let bin = UnsafeMutableRawPointer(element).assumingMemoryBound(to: GstBin.self)
        guard let found = gst_bin_get_by_name(bin, name) else { return nil }
        gst_object_unref(found)  // the pipeline still holds its own reference
        return found
    }

    /// Starts playback; a refusal is reported with the error GStreamer posted, if any.
    func play() -> String? {
        if gst_element_set_state(element, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE {
            if case .error(let text)? = next(waitingNanoseconds: 0) { return text }
            return "the pipeline refused to start"
        }
        return nil
    }

    /// The next end-of-stream or error posted on the bus, waiting at most the given time.
    func next(waitingNanoseconds timeout: UInt64) -> Outcome? {
        let types = GstMessageType(rawValue: GST_MESSAGE_ERROR.rawValue | GST_MESSAGE_EOS.rawValue)
        guard let message = gst_bus_timed_pop_filtered(bus, GstClockTime(timeout), types) else { return nil }
        defer { gst_message_unref(message) }
        if message.pointee.type == GST_MESSAGE_EOS { return .endOfStream }
        return .error(Pipeline.describeError(message))
    }

    /// GStreamer's error text, plus the last line of its debug detail where that adds the
    /// actual reason (e.g. "streaming stopped, reason not-negotiated (-4)").
    private static func describeError(_ message: UnsafeMutablePointer<GstMessage>) -> String {
        var error: UnsafeMutablePointer<GError>?
        var debug: UnsafeMutablePointer<gchar>?
        gst_message_parse_error(message, &error, &debug)
        defer {
            if let error { g_error_free(error) }
            g_free(debug)
        }
        var text = error.map { String(cString: $0.pointee.message) } ?? "unknown GStreamer error"
        if let debug {
            let detail = String(cString: debug)
            // The detail is "file(line): function (): /element/path:\nreason"; keep the reason.
            if detail.contains("\n"), let last = detail.split(separator: "\n").last {
                let reason = String(last)
                if !reason.isEmpty, !text.contains(reason) { text += " (\(reason))" }
            }
        }
        return text
    }
}
