/// How one method of an exported interface is served. Every form may throw: a `DBusError`
/// becomes an error reply with its name, any other error a
/// `org.freedesktop.DBus.Error.Failed` reply; nothing a handler throws reaches libdbus or
/// crashes the service.
public struct DBusMethodImplementation: Sendable {
    let body: @Sendable (DBusMethodCall, DBusDeferredReply) throws -> Void

    /// Runs on the connection's queue and returns the reply at once: keep it quick.
    public static func immediate(_ body: @escaping @Sendable (DBusMethodCall) throws -> [DBusValue]) -> Self {
        Self { call, reply in reply.send(try body(call)) }
    }

    /// Runs on the connection's queue and replies later through `reply`, from any thread.
    /// Throwing before replying sends the error reply; a reply object dropped without
    /// answering sends `org.freedesktop.DBus.Error.NoReply` so the caller never hangs.
    public static func deferred(_ body: @escaping @Sendable (DBusMethodCall, DBusDeferredReply) throws -> Void) -> Self {
        Self(body: body)
    }

    /// Runs in a new task, off the connection's queue, and replies when it returns.
    public static func async(_ body: @escaping @Sendable (DBusMethodCall) async throws -> [DBusValue]) -> Self {
        Self { call, reply in
            Task {
                do {
                    reply.send(try await body(call))
                } catch {
                    reply.fail(error)
                }
            }
        }
    }
}

/// How one property is served. Its type and access come from the interface description; the
/// getter must return a value of that type (a mismatch is answered with an error, not sent).
/// Getters and setters run on the connection's queue: read shared state under a lock.
public struct DBusPropertyImplementation: Sendable {
    let get: @Sendable () throws -> DBusValue
    let set: (@Sendable (DBusValue) throws -> Void)?

    public init(get: @escaping @Sendable () throws -> DBusValue, set: (@Sendable (DBusValue) throws -> Void)? = nil) {
        self.get = get
        self.set = set
    }

    public static func constant(_ value: DBusValue) -> Self {
        Self(get: { value })
    }
}

/// An interface as served: its description (from introspection XML or built in code) and the
/// implementation of every method and property it declares.
public struct DBusInterfaceImplementation: Sendable {
    public let info: DBusInterfaceInfo
    let methods: [String: DBusMethodImplementation]
    let properties: [String: DBusPropertyImplementation]

    /// Checks that every declared method and property is implemented, that nothing extra is,
    /// and that writable properties have a setter.
    public init(
        _ info: DBusInterfaceInfo,
        methods: [String: DBusMethodImplementation] = [:],
        properties: [String: DBusPropertyImplementation] = [:]
    ) throws(DBusError) {
        guard !DBusInterfaceInfo.standardNames.contains(info.name) else {
            throw .invalidArgs("\(info.name) is served by DBusKit itself and cannot be exported")
        }
        let declaredMethods = Set(info.methods.map(\.name))
        let declaredProperties = Set(info.properties.map(\.name))
        if let missing = declaredMethods.subtracting(methods.keys).sorted().first {
            throw .invalidArgs("\(info.name).\(missing) is declared but has no implementation")
        }
        if let extra = Set(methods.keys).subtracting(declaredMethods).sorted().first {
            throw .invalidArgs("\(info.name).\(extra) is implemented but not declared")
        }
        if let missing = declaredProperties.subtracting(properties.keys).sorted().first {
            throw .invalidArgs("Property \(info.name).\(missing) is declared but has no implementation")
        }
        if let extra = Set(properties.keys).subtracting(declaredProperties).sorted().first {
            throw .invalidArgs("Property \(info.name).\(extra) is implemented but not declared")
        }
        for property in info.properties where property.access.isWritable && properties[property.name]?.set == nil {
            throw .invalidArgs("Property \(info.name).\(property.name) is writable but has no setter")
        }
        self.info = info
        self.methods = methods
        self.properties = properties
    }
}

/// An object to export: the interfaces it implements. DBusKit adds Introspectable,
/// Properties and Peer.
public struct DBusObject: Sendable {
    public let interfaces: [DBusInterfaceImplementation]

    public init(interfaces: [DBusInterfaceImplementation]) throws(DBusError) {
        var seen = Set<String>()
        for interface in interfaces where !seen.insert(interface.info.name).inserted {
            throw .invalidArgs("Interface \(interface.info.name) is exported twice on one object")
        }
        self.interfaces = interfaces
    }

    func interface(named name: String) -> DBusInterfaceImplementation? {
        interfaces.first { $0.info.name == name }
    }
}

/// A subtree of objects served by one resolver (libdbus's "fallback"): every path at or
/// below `root` is offered to `resolve`, which returns the object living there (or nil), and
/// `children` lists the child node names under a path for introspection.
public struct DBusSubtree: Sendable {
    public let resolve: @Sendable (_ path: String) -> DBusObject?
    public let children: @Sendable (_ path: String) -> [String]

    public init(
        resolve: @escaping @Sendable (_ path: String) -> DBusObject?,
        children: @escaping @Sendable (_ path: String) -> [String] = { _ in [] }
    ) {
        self.resolve = resolve
        self.children = children
    }
}
