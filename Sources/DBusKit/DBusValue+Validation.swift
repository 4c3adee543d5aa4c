extension DBusValue {
    /// The deepest container nesting a message may carry (the specification's limit of 32
    /// array plus 32 struct levels, variants counted too, as the bus counts them).
    static let maximumNesting = 64

    /// Checks that the value can be marshalled: container elements match their declared
    /// signatures, dictionary keys are basic, strings carry no NUL, object paths and
    /// signatures are well formed, descriptors are still open, and nesting stays within the
    /// protocol's limits. A bus disconnects a client that sends an invalid message, and
    /// libdbus aborts on some inconsistencies, so everything is checked up front.
    public func validate() throws(DBusError) {
        guard DBusSyntax.isValidSingleType(signature) else {
            throw .invalidArgs("The value's type '\(signature)' is not a valid D-Bus type (too deep or malformed)")
        }
        try validate(depth: 0)
    }

    /// Validates a whole message body.
    public static func validate(_ values: [DBusValue]) throws(DBusError) {
        for value in values { try value.validate() }
    }

    private func validate(depth: Int) throws(DBusError) {
        guard depth <= Self.maximumNesting else {
            throw .invalidArgs("The value is nested deeper than D-Bus allows (\(Self.maximumNesting) levels)")
        }
        switch self {
        case .byte, .bool, .int16, .uint16, .int32, .uint32, .int64, .uint64, .double:
            return
        case .string(let text):
            guard DBusSyntax.isValidString(text) else { throw .invalidArgs("A D-Bus string cannot contain NUL characters") }
        case .objectPath(let path):
            try DBusSyntax.requireObjectPath(path)
        case .signature(let text):
            guard DBusSyntax.isValidSignature(text) else {
                throw .invalidArgs("'\(text)' is not a valid D-Bus signature")
            }
        case .unixFD(let fd):
            guard fd.rawValue != nil else { throw .invalidArgs("A file descriptor in the message was already closed or taken") }
        case .array(let element, let items):
            guard DBusSyntax.isValidSingleType(element), !element.hasPrefix("{") else {
                throw .invalidArgs("'\(element)' is not a valid array element type")
            }
            for item in items {
                guard item.signature == element else {
                    throw .invalidArgs("An array of '\(element)' holds an element of type '\(item.signature)'")
                }
                try item.validate(depth: depth + 1)
            }
        case .dictionary(let key, let value, let entries):
            guard DBusSyntax.isBasicType(key), DBusSyntax.isValidSingleType(value) else {
                throw .invalidArgs("'{\(key)\(value)}' is not a valid dictionary entry type")
            }
            for (k, v) in entries {
                guard k.signature == key, v.signature == value else {
                    throw .invalidArgs("A dictionary of '{\(key)\(value)}' holds an entry of type '{\(k.signature)\(v.signature)}'")
                }
                try k.validate(depth: depth + 2)
                try v.validate(depth: depth + 2)
            }
        case .structure(let fields):
            guard !fields.isEmpty else { throw .invalidArgs("A D-Bus structure needs at least one field") }
            for field in fields { try field.validate(depth: depth + 1) }
        case .variant(let inner):
            try inner.validate(depth: depth + 1)
        }
    }
}
