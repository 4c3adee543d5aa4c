import Foundation

/// What plugins/tests/gst_probe.py saw of one pipeline run (its JSON report).
struct ProbeReport: Decodable, Sendable, CustomStringConvertible {
    struct Buffer: Decodable, Sendable {
        let pts: UInt64?
        let duration: UInt64?
        let offset: UInt64
        let offsetEnd: UInt64
        let discont: Bool
        let size: Int
        let sha1: String?
        let at: Double

        enum CodingKeys: String, CodingKey {
            case pts, duration, offset, discont, size, sha1, at
            case offsetEnd = "offset_end"
        }
    }

    struct Segment: Decodable, Sendable {
        let start: UInt64
        let stop: UInt64
        let time: UInt64
        let rate: Double
    }

    struct Event: Decodable, Sendable {
        let type: String
        let afterSeek: Bool
        let caps: String?
        let segment: Segment?

        enum CodingKeys: String, CodingKey {
            case type, caps, segment
            case afterSeek = "after_seek"
        }
    }

    /// A field of a message's structure.
    enum Value: Decodable, Sendable, Equatable {
        case bool(Bool), int(Int64), double(Double), string(String), null

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if container.decodeNil() {
                self = .null
            } else if let value = try? container.decode(Bool.self) {
                self = .bool(value)
            } else if let value = try? container.decode(Int64.self) {
                self = .int(value)
            } else if let value = try? container.decode(Double.self) {
                self = .double(value)
            } else {
                self = .string(try container.decode(String.self))
            }
        }

        var string: String? { if case .string(let value) = self { value } else { nil } }
        var int: Int64? { if case .int(let value) = self { value } else { nil } }
        var double: Double? {
            switch self {
            case .double(let value): value
            case .int(let value): Double(value)
            default: nil
            }
        }
    }

    struct Message: Decodable, Sendable {
        let type: String
        let source: String?
        let at: Double
        let structure: [String: Value]?

        var structureName: String? { structure?["name"]?.string }
    }

    struct Failure: Decodable, Sendable {
        let source: String?
        let domain: String?
        let code: Int?
        let message: String
        let debug: String?
    }

    struct Statistics: Decodable, Sendable {
        let latency: UInt64
        let clipsDone: UInt32

        enum CodingKeys: String, CodingKey {
            case latency
            case clipsDone = "clips-done"
        }
    }

    let buffers: [Buffer]
    let buffersAfterSeek: [Buffer]
    let events: [Event]
    let messages: [Message]
    let errors: [Failure]
    let warnings: [Failure]
    let eos: Int
    let timedOut: Bool
    let properties: Statistics?
    let stopSeconds: Double?
    let eosLatencySeconds: Double?
    let seekAccepted: Bool?
    let startResult: String?
    let stateAtAction: String?
    let pendingStateAtAction: String?
    let parseError: String?
    let elapsed: Double

    enum CodingKeys: String, CodingKey {
        case buffers, events, messages, errors, warnings, eos, properties, elapsed
        case buffersAfterSeek = "buffers_after_seek"
        case timedOut = "timed_out"
        case stopSeconds = "stop_seconds"
        case eosLatencySeconds = "eos_latency_seconds"
        case seekAccepted = "seek_accepted"
        case startResult = "start_result"
        case stateAtAction = "state_at_action"
        case pendingStateAtAction = "pending_state_at_action"
        case parseError = "parse_error"
    }

    /// A short account for failure messages (the whole report is long).
    var description: String {
        let stages = progress.map { "\($0["clip"]?.int ?? -1):\($0["state"]?.string ?? "?")/\($0["stage"]?.string ?? "?")/\($0["step"]?.int ?? -1)" }
        return "\(buffers.count) buffers (+\(buffersAfterSeek.count) after seek), events \(events.map(\.type)), eos \(eos), "
            + "errors \(errors.map { "\($0.source ?? "?"): \($0.message) [\($0.debug ?? "")]" }), warnings \(warnings.map(\.message)), "
            + "progress \(stages.suffix(8)), timed out \(timedOut), start \(startResult ?? "?"), \(String(format: "%.2f", elapsed)) s"
    }

    /// The `dynamicrafter-progress` element messages, in order.
    var progress: [[String: Value]] {
        messages.compactMap { $0.structureName == "dynamicrafter-progress" ? $0.structure : nil }
    }

    /// The caps events that reached the probed pad (before any seek).
    var caps: [String] { events.filter { !$0.afterSeek }.compactMap(\.caps) }

    /// The framerate of the first caps, as a fraction.
    var framerate: (numerator: UInt64, denominator: UInt64)? {
        guard let caps = caps.first, let range = caps.range(of: #"framerate=\(fraction\)(\d+)/(\d+)"#, options: .regularExpression) else {
            return nil
        }
        let parts = caps[range].split(separator: ")")[1].split(separator: "/")
        guard parts.count == 2, let n = UInt64(parts[0]), let d = UInt64(parts[1]) else { return nil }
        return (n, d)
    }

    /// An integer field of the first caps (width, height).
    func capsInt(_ field: String) -> Int? {
        guard let caps = caps.first,
              let range = caps.range(of: field + #"=\(int\)(\d+)"#, options: .regularExpression) else { return nil }
        return Int(caps[range].split(separator: ")")[1])
    }
}
