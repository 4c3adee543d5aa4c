/// One D-Bus value of any type, nested to any depth the protocol allows.
///
/// Containers carry their element signatures explicitly so that empty arrays and
/// dictionaries still have a type on the wire. `validate()` checks that a value is
/// consistent (elements match their declared signature, names are well formed) before it is
/// handed to libdbus, which aborts the process on malformed input instead of failing.
public indirect enum DBusValue: Sendable {
    case byte(UInt8)
    case bool(Bool)
    case int16(Int16)
    case uint16(UInt16)
    case int32(Int32)
    case uint32(UInt32)
    case int64(Int64)
    case uint64(UInt64)
    case double(Double)
    case string(String)
    case objectPath(String)
    case signature(String)
    case unixFD(DBusUnixFD)
    /// `a<element>`: the element signature and the elements.
    case array(String, [DBusValue])
    /// `a{<key><value>}`: key signature (a basic type), value signature and the entries, in
    /// wire order.
    case dictionary(String, String, [(DBusValue, DBusValue)])
    case structure([DBusValue])
    case variant(DBusValue)

    /// The D-Bus signature of this value (a single complete type).
    public var signature: String {
        switch self {
        case .byte: "y"
        case .bool: "b"
        case .int16: "n"
        case .uint16: "q"
        case .int32: "i"
        case .uint32: "u"
        case .int64: "x"
        case .uint64: "t"
        case .double: "d"
        case .string: "s"
        case .objectPath: "o"
        case .signature: "g"
        case .unixFD: "h"
        case .array(let element, _): "a" + element
        case .dictionary(let key, let value, _): "a{" + key + value + "}"
        case .structure(let fields): "(" + fields.map(\.signature).joined() + ")"
        case .variant: "v"
        }
    }

    /// The concatenated signature of a list of values (a message body's signature).
    public static func signature(of values: [DBusValue]) -> String {
        values.map(\.signature).joined()
    }
}

// MARK: - a{sv} convenience

extension DBusValue {
    /// `a{sv}` from a Swift dictionary; keys are sorted so the wire form is deterministic.
    /// Values are wrapped in variants unless they already are one.
    public static func vardict(_ entries: [String: DBusValue]) -> DBusValue {
        vardict(entries.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
    }

    /// `a{sv}` from an ordered list of entries (kept in this order on the wire).
    public static func vardict(_ entries: [(String, DBusValue)]) -> DBusValue {
        .dictionary("s", "v", entries.map { key, value in
            (.string(key), value.isVariant ? value : .variant(value))
        })
    }

    /// The entries of an `a{sv}`, in wire order, with the variants unwrapped; nil for any
    /// other type.
    public var vardictEntries: [(String, DBusValue)]? {
        guard case .dictionary("s", "v", let entries) = self else { return nil }
        var result: [(String, DBusValue)] = []
        result.reserveCapacity(entries.count)
        for (key, value) in entries {
            guard case .string(let name) = key, case .variant(let inner) = value else { return nil }
            result.append((name, inner))
        }
        return result
    }

    /// An `a{sv}` as a Swift dictionary with the variants unwrapped (a repeated key keeps its
    /// last value, as GLib does); nil for any other type.
    public var vardictValue: [String: DBusValue]? {
        guard let entries = vardictEntries else { return nil }
        return Dictionary(entries, uniquingKeysWith: { _, last in last })
    }

    var isVariant: Bool {
        if case .variant = self { return true }
        return false
    }
}

// MARK: - Accessors

extension DBusValue {
    public var byteValue: UInt8? { if case .byte(let v) = self { v } else { nil } }
    public var boolValue: Bool? { if case .bool(let v) = self { v } else { nil } }
    public var int16Value: Int16? { if case .int16(let v) = self { v } else { nil } }
    public var uint16Value: UInt16? { if case .uint16(let v) = self { v } else { nil } }
    public var int32Value: Int32? { if case .int32(let v) = self { v } else { nil } }
    public var uint32Value: UInt32? { if case .uint32(let v) = self { v } else { nil } }
    public var int64Value: Int64? { if case .int64(let v) = self { v } else { nil } }
    public var uint64Value: UInt64? { if case .uint64(let v) = self { v } else { nil } }
    public var doubleValue: Double? { if case .double(let v) = self { v } else { nil } }
    /// The text of a string, object path or signature.
    public var stringValue: String? {
        switch self {
        case .string(let v), .objectPath(let v), .signature(let v): v
        default: nil
        }
    }
    public var objectPathValue: String? { if case .objectPath(let v) = self { v } else { nil } }
    public var unixFDValue: DBusUnixFD? { if case .unixFD(let v) = self { v } else { nil } }
    /// The elements of an array (not of a dictionary).
    public var arrayElements: [DBusValue]? { if case .array(_, let v) = self { v } else { nil } }
    public var dictionaryEntries: [(DBusValue, DBusValue)]? {
        if case .dictionary(_, _, let v) = self { v } else { nil }
    }
    public var structureFields: [DBusValue]? { if case .structure(let v) = self { v } else { nil } }
    /// The content of a variant; nil when this is no variant.
    public var variantValue: DBusValue? { if case .variant(let v) = self { v } else { nil } }
    /// This value with any number of variant layers removed.
    public var unwrappingVariants: DBusValue {
        var value = self
        while case .variant(let inner) = value { value = inner }
        return value
    }
}

// MARK: - Equatable

extension DBusValue: Equatable {
    /// Structural equality; file descriptors compare by wrapper identity (their numbers differ
    /// after a trip through the bus anyway), doubles by `==`.
    public static func == (lhs: DBusValue, rhs: DBusValue) -> Bool {
        switch (lhs, rhs) {
        case (.byte(let a), .byte(let b)): a == b
        case (.bool(let a), .bool(let b)): a == b
        case (.int16(let a), .int16(let b)): a == b
        case (.uint16(let a), .uint16(let b)): a == b
        case (.int32(let a), .int32(let b)): a == b
        case (.uint32(let a), .uint32(let b)): a == b
        case (.int64(let a), .int64(let b)): a == b
        case (.uint64(let a), .uint64(let b)): a == b
        case (.double(let a), .double(let b)): a == b
        case (.string(let a), .string(let b)): a == b
        case (.objectPath(let a), .objectPath(let b)): a == b
        case (.signature(let a), .signature(let b)): a == b
        case (.unixFD(let a), .unixFD(let b)): a === b
        case (.array(let sa, let a), .array(let sb, let b)): sa == sb && a == b
        case (.dictionary(let ka, let va, let a), .dictionary(let kb, let vb, let b)):
            ka == kb && va == vb && a.count == b.count
                && zip(a, b).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        case (.structure(let a), .structure(let b)): a == b
        case (.variant(let a), .variant(let b)): a == b
        default: false
        }
    }
}

extension DBusValue: CustomStringConvertible {
    public var description: String {
        switch self {
        case .byte(let v): "byte \(v)"
        case .bool(let v): "\(v)"
        case .int16(let v): "int16 \(v)"
        case .uint16(let v): "uint16 \(v)"
        case .int32(let v): "int32 \(v)"
        case .uint32(let v): "uint32 \(v)"
        case .int64(let v): "int64 \(v)"
        case .uint64(let v): "uint64 \(v)"
        case .double(let v): "\(v)"
        case .string(let v): "\"\(v)\""
        case .objectPath(let v): "objectpath '\(v)'"
        case .signature(let v): "signature '\(v)'"
        case .unixFD(let v): "\(v)"
        case .array(_, let v): "[" + v.map(\.description).joined(separator: ", ") + "]"
        case .dictionary(_, _, let v):
            "{" + v.map { "\($0.0): \($0.1)" }.joined(separator: ", ") + "}"
        case .structure(let v): "(" + v.map(\.description).joined(separator: ", ") + ")"
        case .variant(let v): "<\(v)>"
        }
    }
}
