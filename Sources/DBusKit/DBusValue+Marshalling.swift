internal import CDBus

/// D-Bus type codes (libdbus's DBUS_TYPE_* macros are char casts Swift cannot import).
enum TypeCode {
    static let invalid: Int32 = 0
    static let byte = code("y"), bool = code("b"), int16 = code("n"), uint16 = code("q")
    static let int32 = code("i"), uint32 = code("u"), int64 = code("x"), uint64 = code("t")
    static let double = code("d"), string = code("s"), objectPath = code("o"), signature = code("g")
    static let unixFD = code("h"), array = code("a"), variant = code("v")
    static let structure = code("r"), dictEntry = code("e")

    private static func code(_ character: Unicode.Scalar) -> Int32 { Int32(character.value) }
}

// MARK: - Writing

extension DBusValue {
    /// Appends the value to a message being built. Call `validate()` first: the only failure
    /// left is libdbus running out of memory or failing to duplicate a descriptor.
    func append(to iter: inout DBusMessageIter) throws(DBusError) {
        let ok: Bool
        switch self {
        case .byte(let v): ok = appendBasic(TypeCode.byte, v, to: &iter)
        case .bool(let v): ok = appendBasic(TypeCode.bool, dbus_bool_t(v ? 1 : 0), to: &iter)
        case .int16(let v): ok = appendBasic(TypeCode.int16, v, to: &iter)
        case .uint16(let v): ok = appendBasic(TypeCode.uint16, v, to: &iter)
        case .int32(let v): ok = appendBasic(TypeCode.int32, v, to: &iter)
        case .uint32(let v): ok = appendBasic(TypeCode.uint32, v, to: &iter)
        case .int64(let v): ok = appendBasic(TypeCode.int64, Int64(v), to: &iter)
        case .uint64(let v): ok = appendBasic(TypeCode.uint64, UInt64(v), to: &iter)
        case .double(let v): ok = appendBasic(TypeCode.double, v, to: &iter)
        case .string(let v): ok = appendString(TypeCode.string, v, to: &iter)
        case .objectPath(let v): ok = appendString(TypeCode.objectPath, v, to: &iter)
        case .signature(let v): ok = appendString(TypeCode.signature, v, to: &iter)
        case .unixFD(let fd):
            // libdbus duplicates the descriptor; hold the wrapper's lock meanwhile so a
            // concurrent close cannot hand it a recycled number.
            guard let appended = fd.withDescriptor({ raw in appendBasic(TypeCode.unixFD, Int32(raw), to: &iter) }) else {
                throw .invalidArgs("A file descriptor in the message was closed before it could be sent")
            }
            guard appended else {
                throw .failed("libdbus could not duplicate a file descriptor for sending: \(errnoDescription())")
            }
            return
        case .array(let element, let items):
            try appendContainer(TypeCode.array, contained: element, to: &iter) { (sub) throws(DBusError) in
                // Arrays of fixed-size numbers go in one block (byte arrays can be large).
                if try appendFixedArray(element, items, to: &sub) { return }
                for item in items { try item.append(to: &sub) }
            }
            return
        case .dictionary(let key, let value, let entries):
            try appendContainer(TypeCode.array, contained: "{" + key + value + "}", to: &iter) { (sub) throws(DBusError) in
                for (k, v) in entries {
                    try appendContainer(TypeCode.dictEntry, contained: nil, to: &sub) { (entry) throws(DBusError) in
                        try k.append(to: &entry)
                        try v.append(to: &entry)
                    }
                }
            }
            return
        case .structure(let fields):
            try appendContainer(TypeCode.structure, contained: nil, to: &iter) { (sub) throws(DBusError) in
                for field in fields { try field.append(to: &sub) }
            }
            return
        case .variant(let inner):
            try appendContainer(TypeCode.variant, contained: inner.signature, to: &iter) { (sub) throws(DBusError) in
                try inner.append(to: &sub)
            }
            return
        }
        guard ok else { throw .outOfMemory }
    }

    /// Appends the elements of a numeric array in one call; false if the element type is not
    /// one of the fixed-size numeric types (the caller then appends one by one).
    private func appendFixedArray(_ element: String, _ items: [DBusValue], to sub: inout DBusMessageIter) throws(DBusError) -> Bool {
        func block<T>(_ type: Int32, _ extract: (DBusValue) -> T?) throws(DBusError) -> Bool {
            let values = items.compactMap(extract)
            guard values.count == items.count else { throw .invalidArgs("An array of '\(element)' holds another type") }
            guard !values.isEmpty else { return true }
            let ok = values.withUnsafeBufferPointer { buffer in
                var base: UnsafeRawPointer? = UnsafeRawPointer(buffer.baseAddress)
                return withUnsafeMutablePointer(to: &base) {
                    dbus_message_iter_append_fixed_array(&sub, type, $0, Int32(buffer.count)) != 0
                }
            }
            guard ok else { throw .outOfMemory }
            return true
        }
        switch element {
        case "y": return try block(TypeCode.byte) { $0.byteValue }
        case "n": return try block(TypeCode.int16) { $0.int16Value }
        case "q": return try block(TypeCode.uint16) { $0.uint16Value }
        case "i": return try block(TypeCode.int32) { $0.int32Value }
        case "u": return try block(TypeCode.uint32) { $0.uint32Value }
        case "x": return try block(TypeCode.int64) { $0.int64Value }
        case "t": return try block(TypeCode.uint64) { $0.uint64Value }
        case "d": return try block(TypeCode.double) { $0.doubleValue }
        default: return false
        }
    }

    private func appendBasic<T>(_ type: Int32, _ value: T, to iter: inout DBusMessageIter) -> Bool {
        var copy = value
        return withUnsafeMutablePointer(to: &copy) { dbus_message_iter_append_basic(&iter, type, $0) != 0 }
    }

    private func appendString(_ type: Int32, _ text: String, to iter: inout DBusMessageIter) -> Bool {
        text.withCString { cString in
            var pointer: UnsafePointer<CChar>? = cString
            return withUnsafeMutablePointer(to: &pointer) { dbus_message_iter_append_basic(&iter, type, $0) != 0 }
        }
    }

    private func appendContainer(
        _ type: Int32, contained: String?, to iter: inout DBusMessageIter,
        _ body: (inout DBusMessageIter) throws(DBusError) -> Void
    ) throws(DBusError) {
        var sub = DBusMessageIter()
        let opened: Bool
        if let contained {
            opened = contained.withCString { dbus_message_iter_open_container(&iter, type, $0, &sub) != 0 }
        } else {
            opened = dbus_message_iter_open_container(&iter, type, nil, &sub) != 0
        }
        guard opened else { throw .outOfMemory }
        do {
            try body(&sub)
        } catch {
            dbus_message_iter_abandon_container(&iter, &sub)
            throw error
        }
        guard dbus_message_iter_close_container(&iter, &sub) != 0 else { throw .outOfMemory }
    }
}

// MARK: - Reading

extension DBusValue {
    /// Reads the value under the iterator (without advancing it). libdbus has validated the
    /// whole message on receipt (types, nesting, UTF-8), so this only has to map types; an
    /// unexpected type code still becomes an error, never a crash.
    static func read(from iter: inout DBusMessageIter) throws(DBusError) -> DBusValue {
        let type = dbus_message_iter_get_arg_type(&iter)
        var basic = DBusBasicValue()
        func getBasic() { dbus_message_iter_get_basic(&iter, &basic) }
        switch type {
        case TypeCode.byte: getBasic(); return .byte(basic.byt)
        case TypeCode.bool: getBasic(); return .bool(basic.bool_val != 0)
        case TypeCode.int16: getBasic(); return .int16(basic.i16)
        case TypeCode.uint16: getBasic(); return .uint16(basic.u16)
        case TypeCode.int32: getBasic(); return .int32(basic.i32)
        case TypeCode.uint32: getBasic(); return .uint32(basic.u32)
        case TypeCode.int64: getBasic(); return .int64(Int64(basic.i64))
        case TypeCode.uint64: getBasic(); return .uint64(UInt64(basic.u64))
        case TypeCode.double: getBasic(); return .double(basic.dbl)
        case TypeCode.string, TypeCode.objectPath, TypeCode.signature:
            getBasic()
            guard let pointer = basic.str else { throw .invalidArgs("The message holds a null string") }
            let text = String(cString: pointer)
            switch type {
            case TypeCode.string: return .string(text)
            case TypeCode.objectPath: return .objectPath(text)
            default: return .signature(text)
            }
        case TypeCode.unixFD:
            // get_basic hands out a fresh duplicate (owned by us), or -1 if it could not.
            getBasic()
            guard basic.fd >= 0 else {
                throw .invalidArgs("The message's file descriptor could not be received: \(errnoDescription())")
            }
            return .unixFD(DBusUnixFD(taking: basic.fd))
        case TypeCode.array:
            guard let full = currentSignature(&iter), full.hasPrefix("a") else {
                throw .invalidArgs("Cannot read an array's signature")
            }
            let element = String(full.dropFirst())
            var sub = DBusMessageIter()
            dbus_message_iter_recurse(&iter, &sub)
            if element.hasPrefix("{") {
                let inner = element.dropFirst().dropLast()
                guard let key = inner.first.map(String.init) else { throw .invalidArgs("Malformed dictionary type '\(full)'") }
                let value = String(inner.dropFirst())
                var entries: [(DBusValue, DBusValue)] = []
                while dbus_message_iter_get_arg_type(&sub) == TypeCode.dictEntry {
                    var entry = DBusMessageIter()
                    dbus_message_iter_recurse(&sub, &entry)
                    let k = try read(from: &entry)
                    guard dbus_message_iter_next(&entry) != 0 else { throw .invalidArgs("A dictionary entry has no value") }
                    let v = try read(from: &entry)
                    entries.append((k, v))
                    dbus_message_iter_next(&sub)
                }
                return .dictionary(key, value, entries)
            }
            if let items = readFixedArray(element, &sub) { return .array(element, items) }
            var items: [DBusValue] = []
            while dbus_message_iter_get_arg_type(&sub) != TypeCode.invalid {
                items.append(try read(from: &sub))
                dbus_message_iter_next(&sub)
            }
            return .array(element, items)
        case TypeCode.structure:
            var sub = DBusMessageIter()
            dbus_message_iter_recurse(&iter, &sub)
            var fields: [DBusValue] = []
            while dbus_message_iter_get_arg_type(&sub) != TypeCode.invalid {
                fields.append(try read(from: &sub))
                dbus_message_iter_next(&sub)
            }
            guard !fields.isEmpty else { throw .invalidArgs("The message holds an empty structure") }
            return .structure(fields)
        case TypeCode.variant:
            var sub = DBusMessageIter()
            dbus_message_iter_recurse(&iter, &sub)
            guard dbus_message_iter_get_arg_type(&sub) != TypeCode.invalid else {
                throw .invalidArgs("The message holds an empty variant")
            }
            return .variant(try read(from: &sub))
        default:
            throw .invalidArgs("The message holds an unsupported type code \(type)")
        }
    }

    /// Reads a numeric array in one block; nil for other element types.
    private static func readFixedArray(_ element: String, _ sub: inout DBusMessageIter) -> [DBusValue]? {
        func block<T>(_ type: T.Type, _ wrap: (T) -> DBusValue) -> [DBusValue] {
            guard dbus_message_iter_get_arg_type(&sub) != TypeCode.invalid else { return [] }
            var base: UnsafeRawPointer?
            var count: Int32 = 0
            withUnsafeMutablePointer(to: &base) { dbus_message_iter_get_fixed_array(&sub, $0, &count) }
            guard let base, count > 0 else { return [] }
            let typed = base.bindMemory(to: T.self, capacity: Int(count))
            return UnsafeBufferPointer(start: typed, count: Int(count)).map(wrap)
        }
        switch element {
        case "y": return block(UInt8.self, DBusValue.byte)
        case "n": return block(Int16.self, DBusValue.int16)
        case "q": return block(UInt16.self, DBusValue.uint16)
        case "i": return block(Int32.self, DBusValue.int32)
        case "u": return block(UInt32.self, DBusValue.uint32)
        case "x": return block(Int64.self, DBusValue.int64)
        case "t": return block(UInt64.self, DBusValue.uint64)
        case "d": return block(Double.self, DBusValue.double)
        default: return nil
        }
    }

    /// Reads every argument of a message.
    static func readAll(from message: OpaquePointer) throws(DBusError) -> [DBusValue] {
        var iter = DBusMessageIter()
        guard dbus_message_iter_init(message, &iter) != 0 else { return [] }
        var values: [DBusValue] = []
        while dbus_message_iter_get_arg_type(&iter) != TypeCode.invalid {
            values.append(try read(from: &iter))
            dbus_message_iter_next(&iter)
        }
        return values
    }

    /// Appends a whole body to a message (validating it first).
    static func appendAll(_ values: [DBusValue], to message: OpaquePointer) throws(DBusError) {
        try validate(values)
        var iter = DBusMessageIter()
        dbus_message_iter_init_append(message, &iter)
        for value in values { try value.append(to: &iter) }
    }

    private static func currentSignature(_ iter: inout DBusMessageIter) -> String? {
        guard let raw = dbus_message_iter_get_signature(&iter) else { return nil }
        defer { dbus_free(raw) }
        return String(cString: raw)
    }
}

extension DBusError {
    static let outOfMemory = DBusError(name: Name.noMemory, message: "libdbus ran out of memory building a message")
}
