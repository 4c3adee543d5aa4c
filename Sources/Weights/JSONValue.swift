/// A parsed JSON value, as much of JSON as a safetensors header uses.
///
/// The project parses headers itself rather than through Foundation for three reasons: offsets
/// must stay exact 64-bit integers (a `Double` loses them past 2^53), duplicate keys must be an
/// error rather than silently collapsed, and nesting must be bounded.
indirect enum JSONValue: Equatable {
    case null
    case bool(Bool)
    /// The number's literal text; `integerValue` interprets it exactly.
    case number(String)
    case string(String)
    case array([JSONValue])
    /// Members in file order; keys are unique (the parser rejects duplicates).
    case object([(key: String, value: JSONValue)])

    static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): true
        case let (.bool(x), .bool(y)): x == y
        case let (.number(x), .number(y)): x == y
        case let (.string(x), .string(y)): x == y
        case let (.array(x), .array(y)): x == y
        case let (.object(x), .object(y)):
            x.count == y.count && zip(x, y).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        default: false
        }
    }

    /// The exact value of an integer literal that fits in `Int`; nil for fractions, exponents
    /// and anything out of range.
    var integerValue: Int? {
        guard case .number(let text) = self else { return nil }
        var digits = Substring(text)
        let negative = digits.first == "-"
        if negative { digits = digits.dropFirst() }
        guard !digits.isEmpty else { return nil }
        var value = 0
        for c in digits.utf8 {
            guard c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") else { return nil }
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.addingReportingOverflow(Int(c - UInt8(ascii: "0")))
            if o1 || o2 { return nil }
            value = s
        }
        return negative ? -value : value
    }

    var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    /// A short name of the value's type for error messages.
    var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}
