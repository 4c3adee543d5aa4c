internal import CDBus

/// Checks of names and signatures against the D-Bus specification, done before anything is
/// given to libdbus: libdbus treats malformed arguments as programming errors and aborts the
/// process (its "check failed" warnings are fatal by default), so nothing a peer or a caller
/// controls may reach it unchecked. The libdbus validators used here touch no connection
/// state and are safe from any thread.
public enum DBusSyntax {
    public static func isValidObjectPath(_ path: String) -> Bool {
        checked(path) { dbus_validate_path($0, nil) }
    }

    public static func isValidInterfaceName(_ name: String) -> Bool {
        checked(name) { dbus_validate_interface($0, nil) }
    }

    public static func isValidMemberName(_ name: String) -> Bool {
        checked(name) { dbus_validate_member($0, nil) }
    }

    public static func isValidErrorName(_ name: String) -> Bool {
        checked(name) { dbus_validate_error_name($0, nil) }
    }

    /// A unique (`:1.42`) or well-known (`org.example.Name`) bus name.
    public static func isValidBusName(_ name: String) -> Bool {
        checked(name) { dbus_validate_bus_name($0, nil) }
    }

    /// Any sequence of complete types (a message body signature), including the empty one.
    public static func isValidSignature(_ signature: String) -> Bool {
        checked(signature) { dbus_signature_validate($0, nil) }
    }

    /// Exactly one complete type (the type of one argument or property).
    public static func isValidSingleType(_ signature: String) -> Bool {
        checked(signature) { dbus_signature_validate_single($0, nil) }
    }

    /// A basic (non-container) type code: what a dictionary key may be.
    public static func isBasicType(_ signature: String) -> Bool {
        signature.count == 1 && "ybnqiuxtdsogh".contains(signature)
    }

    /// A string D-Bus can carry: no NUL (Swift strings are valid UTF-8 already).
    public static func isValidString(_ text: String) -> Bool {
        !text.utf8.contains(0)
    }

    /// Splits a valid body signature into its complete types (`"sa{sv}(ii)"` →
    /// `["s", "a{sv}", "(ii)"]`); nil if it is not a valid signature.
    public static func completeTypes(of signature: String) -> [String]? {
        guard isValidSignature(signature) else { return nil }
        var result: [String] = []
        var current = ""
        var depth = 0
        for character in signature {
            current.append(character)
            switch character {
            case "(", "{": depth += 1
            case ")", "}": depth -= 1
            case "a": continue // an array is complete only with its element
            default: break
            }
            if depth == 0 && character != "a" {
                result.append(current)
                current = ""
            }
        }
        return result
    }

    private static func checked(_ text: String, _ validate: (UnsafePointer<CChar>) -> dbus_bool_t) -> Bool {
        guard isValidString(text) else { return false }
        return text.withCString { validate($0) != 0 }
    }

    static func requireObjectPath(_ path: String) throws(DBusError) {
        guard isValidObjectPath(path) else { throw .invalidArgs("'\(path)' is not a valid D-Bus object path") }
    }

    static func requireInterfaceName(_ name: String) throws(DBusError) {
        guard isValidInterfaceName(name) else { throw .invalidArgs("'\(name)' is not a valid D-Bus interface name") }
    }

    static func requireMemberName(_ name: String) throws(DBusError) {
        guard isValidMemberName(name) else { throw .invalidArgs("'\(name)' is not a valid D-Bus member name") }
    }

    static func requireBusName(_ name: String) throws(DBusError) {
        guard isValidBusName(name) else { throw .invalidArgs("'\(name)' is not a valid D-Bus bus name") }
    }
}
