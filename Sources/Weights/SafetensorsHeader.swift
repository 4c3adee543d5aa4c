import TensorStorage

/// The validated header of a safetensors file: every entry's dtype, shape and byte range has
/// been checked against the data section before anything uses it.
struct SafetensorsHeader: Sendable {
    struct Entry: Sendable {
        let info: TensorInfo
        /// Byte range relative to the start of the data section.
        let begin: Int
        let end: Int
    }

    /// Headers of real files are a few hundred KB; the cap keeps a hostile length from
    /// driving a huge allocation or parse (the reference implementation uses the same bound).
    static let maxHeaderLength = 100_000_000

    let entries: [String: Entry]
    let metadata: [String: String]
    /// File offset of the data section (8 + header length).
    let dataStart: Int

    static func parse(_ file: UnsafeRawBufferPointer, path: String) throws -> SafetensorsHeader {
        let view = ByteView(file)
        guard let rawLength = view.u64(at: 0) else {
            throw WeightsError(.truncated, path: path,
                               "file is \(file.count) bytes, too short for the 8-byte safetensors header length")
        }
        guard rawLength <= UInt64(maxHeaderLength) else {
            throw WeightsError(.invalidHeader, path: path,
                               "safetensors header length \(rawLength) exceeds the \(maxHeaderLength)-byte limit (corrupt or not a safetensors file)")
        }
        let headerLength = Int(rawLength)
        guard let headerBytes = view.slice(offset: 8, length: headerLength) else {
            throw WeightsError(.truncated, path: path,
                               "safetensors header length \(headerLength) is larger than the file (\(file.count) bytes): the file is truncated or not a safetensors file")
        }
        guard decodeUTF8(headerBytes) != nil else {
            throw WeightsError(.notUTF8, path: path, "safetensors header is not valid UTF-8")
        }
        let json: JSONValue
        do {
            json = try JSONParser.parse(headerBytes)
        } catch {
            throw WeightsError(.invalidHeader, path: path, "safetensors header is not valid JSON: \(error.message)")
        }
        guard case .object(let members) = json else {
            throw WeightsError(.invalidHeader, path: path, "safetensors header is \(json.typeName), expected an object")
        }
        let dataStart = 8 + headerLength
        let dataSize = file.count - dataStart
        var entries: [String: Entry] = [:]
        var metadata: [String: String] = [:]
        for (name, value) in members {
            if name == "__metadata__" {
                metadata = try parseMetadata(value, path: path)
            } else {
                entries[name] = try parseEntry(name: name, value, dataSize: dataSize, path: path)
            }
        }
        try checkNoOverlap(entries, path: path)
        return SafetensorsHeader(entries: entries, metadata: metadata, dataStart: dataStart)
    }

    private static func parseMetadata(_ value: JSONValue, path: String) throws -> [String: String] {
        guard case .object(let members) = value else {
            throw WeightsError(.invalidHeader, path: path, "safetensors __metadata__ is \(value.typeName), expected an object of strings")
        }
        var out: [String: String] = [:]
        for (key, v) in members {
            guard let s = v.stringValue else {
                throw WeightsError(.invalidHeader, path: path, "safetensors __metadata__ value for '\(key)' is \(v.typeName), expected a string")
            }
            out[key] = s
        }
        return out
    }

    private static func parseEntry(name: String, _ value: JSONValue, dataSize: Int, path: String) throws -> Entry {
        func bad(_ what: String) -> WeightsError {
            WeightsError(.invalidHeader, path: path, "tensor '\(name)': \(what)")
        }
        guard case .object(let fields) = value else { throw bad("entry is \(value.typeName), expected an object") }
        func field(_ key: String) throws -> JSONValue {
            guard let v = fields.first(where: { $0.key == key })?.value else { throw bad("missing \"\(key)\"") }
            return v
        }
        guard let dtypeName = try field("dtype").stringValue else { throw bad("\"dtype\" is not a string") }
        guard let dtype = DType(rawValue: dtypeName) else {
            throw bad("unsupported dtype '\(dtypeName)' (supported: \(DType.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        guard case .array(let dims) = try field("shape") else { throw bad("\"shape\" is not an array") }
        var shape: [Int] = []
        shape.reserveCapacity(dims.count)
        for d in dims {
            guard let n = d.integerValue, n >= 0 else { throw bad("shape contains \(d.typeName) that is not a non-negative integer") }
            shape.append(n)
        }
        guard case .array(let offsets) = try field("data_offsets"), offsets.count == 2,
              let begin = offsets[0].integerValue, let end = offsets[1].integerValue, begin >= 0, end >= 0
        else { throw bad("\"data_offsets\" must be two non-negative integers") }
        guard begin <= end else { throw bad("data_offsets [\(begin), \(end)] end before they begin") }
        guard end <= dataSize else {
            throw WeightsError(.truncated, path: path,
                               "tensor '\(name)': data_offsets [\(begin), \(end)] run past the end of the data section (\(dataSize) bytes): offset past the end of the file")
        }
        guard let count = Shape.elementCount(shape) else { throw bad("shape \(Shape.describe(shape)) overflows") }
        let (bytes, overflow) = count.multipliedReportingOverflow(by: dtype.byteSize)
        guard !overflow, bytes == end - begin else {
            throw bad("\(dtype.rawValue) \(Shape.describe(shape)) needs \(overflow ? "more than Int.max" : String(bytes)) bytes but data_offsets [\(begin), \(end)] hold \(end - begin)")
        }
        return Entry(info: TensorInfo(dtype: dtype, shape: shape), begin: begin, end: end)
    }

    /// Two tensors sharing bytes would alias silently; the format forbids it.
    private static func checkNoOverlap(_ entries: [String: Entry], path: String) throws {
        let ranges = entries.filter { $0.value.end > $0.value.begin }
            .sorted { ($0.value.begin, $0.value.end) < ($1.value.begin, $1.value.end) }
        for (a, b) in zip(ranges, ranges.dropFirst()) where b.value.begin < a.value.end {
            throw WeightsError(.invalidHeader, path: path,
                               "overlapping tensors: '\(a.key)' [\(a.value.begin), \(a.value.end)) and '\(b.key)' [\(b.value.begin), \(b.value.end))")
        }
    }
}
