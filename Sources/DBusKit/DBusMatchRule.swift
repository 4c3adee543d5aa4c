/// A bus match rule (what `AddMatch` takes), also evaluated locally so that each
/// subscription sees only the messages its own rule selects.
public struct DBusMatchRule: Sendable, Hashable, CustomStringConvertible {
    public enum MessageType: String, Sendable, Hashable {
        case signal, methodCall = "method_call", methodReturn = "method_return", error
    }

    public var type: MessageType?
    /// A unique or well-known name. Locally a well-known sender is not re-checked (messages
    /// carry the owner's unique name); the bus applies it. The bus itself
    /// (org.freedesktop.DBus) is the exception: its messages carry that name, which no peer can
    /// own, so it is checked locally too.
    public var sender: String?
    public var interface: String?
    public var member: String?
    public var path: String?
    public var pathNamespace: String?
    public var destination: String?
    /// String matches on the first arguments (`arg0='…'`), by argument index (0…63).
    public var arguments: [Int: String]

    public init(
        type: MessageType? = .signal, sender: String? = nil, interface: String? = nil,
        member: String? = nil, path: String? = nil, pathNamespace: String? = nil,
        destination: String? = nil, arguments: [Int: String] = [:]
    ) {
        self.type = type
        self.sender = sender
        self.interface = interface
        self.member = member
        self.path = path
        self.pathNamespace = pathNamespace
        self.destination = destination
        self.arguments = arguments
    }

    /// The bus's own name, the sender of its signals (NameOwnerChanged, NameLost, …).
    static let busDriver = "org.freedesktop.DBus"

    /// The rule in the bus's text form.
    public var description: String {
        var parts: [String] = []
        func add(_ key: String, _ value: String?) {
            guard let value else { return }
            // Values are single-quoted; a quote is written as '\'' (close, escaped, reopen).
            var escaped = ""
            for character in value { escaped += character == "'" ? "'\\''" : String(character) }
            parts.append("\(key)='\(escaped)'")
        }
        add("type", type?.rawValue)
        add("sender", sender)
        add("interface", interface)
        add("member", member)
        add("path", path)
        add("path_namespace", pathNamespace)
        add("destination", destination)
        for (index, value) in arguments.sorted(by: { $0.key < $1.key }) { add("arg\(index)", value) }
        return parts.joined(separator: ",")
    }

    func validate() throws(DBusError) {
        if let sender { try DBusSyntax.requireBusName(sender) }
        if let interface { try DBusSyntax.requireInterfaceName(interface) }
        if let member { try DBusSyntax.requireMemberName(member) }
        if let path { try DBusSyntax.requireObjectPath(path) }
        if let pathNamespace { try DBusSyntax.requireObjectPath(pathNamespace) }
        if let destination { try DBusSyntax.requireBusName(destination) }
        guard path == nil || pathNamespace == nil else {
            throw .invalidArgs("A match rule cannot have both path and path_namespace")
        }
        for (index, value) in arguments {
            guard (0...63).contains(index), DBusSyntax.isValidString(value) else {
                throw .invalidArgs("Invalid argument match arg\(index)")
            }
        }
    }

    func matches(_ signal: DBusSignal) -> Bool {
        if let type, type != .signal { return false }
        // Checked here as well as by the bus: a peer may send a signal straight to this
        // connection (a destination set), which the bus delivers whatever the rules say; a
        // forged NameOwnerChanged must not pass for the bus's own.
        if let sender, sender.hasPrefix(":") || sender == Self.busDriver, sender != signal.sender { return false }
        if let interface, interface != signal.interface { return false }
        if let member, member != signal.member { return false }
        if let path, path != signal.path { return false }
        if let pathNamespace, pathNamespace != "/",
           signal.path != pathNamespace, !signal.path.hasPrefix(pathNamespace + "/") { return false }
        if let destination, destination != signal.destination { return false }
        for (index, expected) in arguments {
            guard index < signal.arguments.count, case .string(let actual) = signal.arguments[index],
                  actual == expected else { return false }
        }
        return true
    }
}

/// A signal as received.
public struct DBusSignal: Sendable {
    public var sender: String?
    public var destination: String?
    public var path: String
    public var interface: String
    public var member: String
    public var signature: String
    public var arguments: [DBusValue]
}
