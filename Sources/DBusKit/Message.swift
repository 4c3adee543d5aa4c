internal import CDBus

/// An owned reference to a libdbus message. libdbus counts message references atomically, so
/// the wrapper may be released on any thread; everything that touches a connection still
/// happens on the connection's queue.
final class Message: @unchecked Sendable {
    let raw: OpaquePointer

    /// Takes over a reference the caller already owns.
    init(adopting raw: OpaquePointer) { self.raw = raw }

    /// Adds a reference of its own.
    init(retaining raw: OpaquePointer) {
        dbus_message_ref(raw)
        self.raw = raw
    }

    deinit { dbus_message_unref(raw) }

    var type: Int32 { dbus_message_get_type(raw) }
    var path: String? { string(dbus_message_get_path(raw)) }
    var interface: String? { string(dbus_message_get_interface(raw)) }
    var member: String? { string(dbus_message_get_member(raw)) }
    var sender: String? { string(dbus_message_get_sender(raw)) }
    var destination: String? { string(dbus_message_get_destination(raw)) }
    var errorName: String? { string(dbus_message_get_error_name(raw)) }
    var signature: String { string(dbus_message_get_signature(raw)) ?? "" }
    var expectsReply: Bool { dbus_message_get_no_reply(raw) == 0 }

    /// Marks a message built here (not yet sent) as wanting no reply.
    func setNoReply() { dbus_message_set_no_reply(raw, 1) }

    private func string(_ pointer: UnsafePointer<CChar>?) -> String? {
        pointer.map { String(cString: $0) }
    }

    // MARK: Construction (all names validated before libdbus sees them)

    static func methodCall(
        destination: String?, path: String, interface: String?, member: String, arguments: [DBusValue]
    ) throws(DBusError) -> Message {
        if let destination { try DBusSyntax.requireBusName(destination) }
        try DBusSyntax.requireObjectPath(path)
        if let interface { try DBusSyntax.requireInterfaceName(interface) }
        try DBusSyntax.requireMemberName(member)
        let created = withOptionalCString(destination) { dest in
            withOptionalCString(interface) { iface in
                dbus_message_new_method_call(dest, path, iface, member)
            }
        }
        guard let created else { throw .outOfMemory }
        let message = Message(adopting: created)
        try DBusValue.appendAll(arguments, to: created)
        return message
    }

    static func signal(path: String, interface: String, member: String, arguments: [DBusValue], destination: String? = nil) throws(DBusError) -> Message {
        try DBusSyntax.requireObjectPath(path)
        try DBusSyntax.requireInterfaceName(interface)
        try DBusSyntax.requireMemberName(member)
        if let destination { try DBusSyntax.requireBusName(destination) }
        guard let created = dbus_message_new_signal(path, interface, member) else { throw .outOfMemory }
        let message = Message(adopting: created)
        if let destination {
            guard dbus_message_set_destination(created, destination) != 0 else { throw .outOfMemory }
        }
        try DBusValue.appendAll(arguments, to: created)
        return message
    }

    func methodReturn(_ values: [DBusValue]) throws(DBusError) -> Message {
        guard let created = dbus_message_new_method_return(raw) else { throw .outOfMemory }
        let message = Message(adopting: created)
        try DBusValue.appendAll(values, to: created)
        return message
    }

    /// An error reply; a name that is not a valid error name (it came from arbitrary Swift
    /// code) is replaced by Failed rather than handed to libdbus, which would abort.
    func errorReply(_ error: DBusError) -> Message? {
        var name = error.name
        var text = error.message
        if !DBusSyntax.isValidErrorName(name) {
            text = "\(name): \(text)"
            name = DBusError.Name.failed
        }
        text = String(text.unicodeScalars.filter { $0 != "\0" }.map(Character.init))
        return dbus_message_new_error(raw, name, text).map(Message.init(adopting:))
    }

    /// The error a received error reply carries.
    func asError() -> DBusError {
        let name = errorName ?? DBusError.Name.failed
        var text = ""
        var iter = DBusMessageIter()
        if dbus_message_iter_init(raw, &iter) != 0, dbus_message_iter_get_arg_type(&iter) == TypeCode.string {
            var basic = DBusBasicValue()
            dbus_message_iter_get_basic(&iter, &basic)
            if let pointer = basic.str { text = String(cString: pointer) }
        }
        return DBusError(name: name, message: text)
    }
}

func withOptionalCString<R>(_ text: String?, _ body: (UnsafePointer<CChar>?) -> R) -> R {
    guard let text else { return body(nil) }
    return text.withCString { body($0) }
}
