import CGStreamer

/// Process-wide GStreamer set-up and small queries.
enum GStreamer {
    /// `gst_init_check` runs exactly once: a static `let` is initialised lazily and atomically
    /// by the runtime, so concurrent first callers wait for the one initialisation.
    private static let initialisation: Result<Void, MediaError> = {
        var error: UnsafeMutablePointer<GError>?
        if gst_init_check(nil, nil, &error) != 0 { return .success(()) }
        let text = error.map { String(cString: $0.pointee.message) } ?? "unknown reason"
        if let error { g_error_free(error) }
        return .failure(MediaError(.missingElement, "GStreamer could not be initialised: \(text)"))
    }()

    static func initialise() throws(MediaError) {
        try initialisation.get()
    }

    /// Whether an element factory of this name is registered (its plugin is installed).
    static func hasElement(_ name: String) -> Bool {
        guard (try? initialise()) != nil, let factory = gst_element_factory_find(name) else { return false }
        gst_object_unref(UnsafeMutableRawPointer(factory))
        return true
    }

    /// Fails with `.missingElement` naming every absent element and the Debian package that has it.
    static func require(_ elements: [String], for purpose: String) throws(MediaError) {
        try initialise()
        let missing = elements.filter { !hasElement($0) }
        guard missing.isEmpty else {
            let hints = missing.map { name in
                debianPackage[name].map { "\(name) (Debian package \($0))" } ?? name
            }
            throw MediaError(.missingElement, "\(purpose) needs the GStreamer element(s) \(hints.joined(separator: ", ")), which are not installed")
        }
    }

    private static let debianPackage: [String: String] = [
        "x264enc": "gstreamer1.0-plugins-ugly",
        "mp4mux": "gstreamer1.0-plugins-good",
        "vp8enc": "gstreamer1.0-plugins-good",
        "webmmux": "gstreamer1.0-plugins-good",
        "pngenc": "gstreamer1.0-plugins-good",
        "videoconvert": "gstreamer1.0-plugins-base",
        "decodebin": "gstreamer1.0-plugins-base",
        "appsrc": "gstreamer1.0-plugins-base",
        "appsink": "gstreamer1.0-plugins-base",
    ]

    /// One second in GStreamer's clock unit (nanoseconds).
    static let second = UInt64(dcgst_second())

    /// Nanoseconds on the monotonic clock, for pipeline deadlines.
    static func now() -> UInt64 {
        UInt64(g_get_monotonic_time()) * 1000
    }
}
