import AnimationService
import DBusKit
import DiffusionPipeline

/// The arguments of `Animate(h image, a{sv} options)`, checked: every option known and of its
/// documented type, combinations complete and consistent. Ranges that depend on the model are
/// checked later by the engine. The descriptors stay owned here until the request is done.
struct AnimateArguments: Sendable {
    let image: DBusUnixFD
    let endImage: DBusUnixFD?
    let output: DBusUnixFD?
    let outputFormat: OutputFormat
    let rawLayout: RawPixelLayout?
    let model: String?
    let options: AnimationOptions

    /// Every option with its D-Bus type, as the interface documents them.
    static let optionTypes: [String: String] = [
        "model": "s", "prompt": "s", "frames": "u", "steps": "u", "cfg-scale": "d", "image-cfg-scale": "d",
        "eta": "d", "sampler": "s", "seed": "t", "frame-stride": "u", "fps": "u", "mode": "s", "end-image": "h",
        "format": "s", "width": "u", "height": "u", "stride": "u", "output": "h", "output-format": "s",
        "cache-interval": "u",
    ]

    private static let typeNames: [String: String] = [
        "s": "string", "u": "uint32", "d": "double", "t": "uint64", "h": "file descriptor",
    ]

    init(_ arguments: [DBusValue]) throws(DBusError) {
        guard arguments.count == 2, let image = arguments[0].unixFDValue,
              let entries = arguments[1].vardictEntries else {
            throw DBusError(name: DBusError.Name.invalidArgs, message: "Animate takes (h image, a{sv} options)")
        }
        var values: [String: DBusValue] = [:]
        for (key, value) in entries {
            guard let type = Self.optionTypes[key] else {
                let known = Self.optionTypes.keys.sorted().joined(separator: ", ")
                throw ServiceError(.invalidArgument, "unknown option '\(QuotedInput.quote(key))'; the options are: \(known)").dbusError
            }
            guard value.signature == type else {
                throw ServiceError(.invalidArgument, "option '\(key)' must be of type \(type) (\(Self.typeNames[type] ?? type)), not \(value.signature)").dbusError
            }
            guard values.updateValue(value, forKey: key) == nil else {
                throw ServiceError(.invalidArgument, "option '\(key)' is given twice").dbusError
            }
        }
        do {
            try self.init(image: image, values: values)
        } catch {
            throw error.dbusError
        }
    }

    private init(image: DBusUnixFD, values: [String: DBusValue]) throws(ServiceError) {
        self.image = image
        func string(_ key: String) -> String? { values[key]?.stringValue }
        func count(_ key: String) -> Int? { values[key]?.uint32Value.map(Int.init) }
        func number(_ key: String) -> Double? { values[key]?.doubleValue }

        if let name = string("model"), name.isEmpty {
            throw .init(.invalidArgument, "option 'model' is empty; leave it out for the default model, or name one GetModels lists")
        }
        model = string("model")
        var options = AnimationOptions(prompt: string("prompt") ?? "")
        options.frames = count("frames")
        options.steps = count("steps")
        options.guidanceScale = number("cfg-scale")
        options.imageGuidanceScale = number("image-cfg-scale")
        options.eta = number("eta")
        if let sampler = string("sampler") {
            guard let parsed = SamplerKind(rawValue: sampler) else {
                throw .init(.invalidArgument, "option 'sampler' is '\(QuotedInput.quote(sampler))'; allowed: \(SamplerKind.names)")
            }
            options.sampler = parsed
        }
        options.seed = values["seed"]?.uint64Value
        options.cacheInterval = count("cache-interval")
        if values["frame-stride"] != nil && values["fps"] != nil {
            throw .init(.invalidArgument, "options 'frame-stride' and 'fps' set the same value; give one of them")
        }
        options.frameStride = count("frame-stride") ?? count("fps")
        if let mode = string("mode") {
            guard let parsed = AnimationMode(rawValue: mode) else {
                throw .init(.invalidArgument, "option 'mode' is '\(QuotedInput.quote(mode))'; allowed: animate, interpolate, loop")
            }
            options.mode = parsed
        }
        self.options = options
        endImage = values["end-image"]?.unixFDValue

        let rawKeys = ["format", "width", "height", "stride"]
        let present = rawKeys.filter { values[$0] != nil }
        if present.isEmpty {
            rawLayout = nil
        } else {
            guard present.count == rawKeys.count else {
                let missing = rawKeys.filter { values[$0] == nil }.joined(separator: ", ")
                throw .init(.invalidArgument, "raw pixel input needs format, width, height and stride together; missing: \(missing)")
            }
            let format = string("format") ?? ""
            guard let pixelFormat = RawPixelLayout.Format(rawValue: format) else {
                throw .init(.invalidArgument, "option 'format' is '\(QuotedInput.quote(format))'; allowed: RGB, RGBA")
            }
            rawLayout = RawPixelLayout(format: pixelFormat, width: count("width") ?? 0, height: count("height") ?? 0,
                                       stride: count("stride") ?? 0)
        }

        output = values["output"]?.unixFDValue
        if let format = string("output-format") {
            guard output != nil else {
                throw .init(.invalidArgument, "option 'output-format' needs 'output', the descriptor to write into")
            }
            guard let parsed = OutputFormat(rawValue: format) else {
                throw .init(.invalidArgument, "option 'output-format' is '\(QuotedInput.quote(format))'; allowed: mp4, webm, gif, raw")
            }
            outputFormat = parsed
        } else {
            outputFormat = .mp4
        }
    }

    /// The engine's request, with descriptors borrowed from here (keep `self` alive meanwhile).
    func request(owner: String) throws(ServiceError) -> AnimationRequest {
        func source(_ fd: DBusUnixFD, _ what: String) throws(ServiceError) -> ImageSource {
            guard let raw = fd.rawValue else { throw .init(.invalidArgument, "the \(what) descriptor is closed") }
            if let rawLayout { return .raw(fileDescriptor: raw, layout: rawLayout) }
            return .encoded(fileDescriptor: raw)
        }
        var outputRequest: OutputRequest?
        if let output {
            guard let raw = output.rawValue else { throw .init(.invalidArgument, "the output descriptor is closed") }
            outputRequest = OutputRequest(fileDescriptor: raw, format: outputFormat)
        }
        var endSource: ImageSource?
        if let endImage { endSource = try source(endImage, "end image") }
        return AnimationRequest(owner: owner, model: model, options: options, image: try source(image, "image"),
                                endImage: endSource, output: outputRequest)
    }

}
