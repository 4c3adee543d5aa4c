import Dispatch

/// A connection to a message bus, driven by dispatch sources on a private serial queue.
///
/// Every method may be called from any thread or task. Exported method handlers, property
/// getters and signal callbacks run on the connection's queue, so they must be quick (defer
/// or use `.async` implementations for slow work). Handlers that capture the connection form
/// a reference cycle through it: call `close()` when done, which drops every handler.
public final class DBusConnection: Sendable {
    public enum Bus: Sendable, Hashable {
        case session
        case system
        /// A bus at a D-Bus address such as `unix:path=/run/…`.
        case address(String)
    }

    let core: ConnectionCore
    /// This connection's unique name on the bus (`:1.42`).
    public let uniqueName: String

    /// Connects to the bus and registers (Hello), blocking the calling thread until done.
    /// The connection is private to this object.
    public init(_ bus: Bus) throws(DBusError) {
        core = ConnectionCore(label: "DBusKit.connection")
        uniqueName = try core.open(bus)
    }

    deinit {
        core.perform { $0.close() }
    }

    /// Closes the connection; later operations fail with org.freedesktop.DBus.Error.Disconnected.
    public func close() {
        try? core.performSync { $0.close() }
    }

    public var isConnected: Bool {
        (try? core.performSync { $0.isConnected }) ?? false
    }

    /// Called once (on the queue) when the bus connection is lost; not after `close()`.
    public func setDisconnectHandler(_ handler: (@Sendable () -> Void)?) {
        try? core.performSync { $0.disconnectHandler = handler }
    }

    // MARK: - Bus names

    /// Options of RequestName besides DBUS_NAME_FLAG_DO_NOT_QUEUE, which is always set.
    public struct NameFlags: OptionSet, Sendable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        /// Let a later requester that asks for replacement take the name over.
        public static let allowReplacement = NameFlags(rawValue: 0x1)
        /// Take the name over from an owner that allowed replacement.
        public static let replaceExisting = NameFlags(rawValue: 0x2)
    }

    /// Becomes the primary owner of a well-known name, or fails with
    /// org.freedesktop.DBus.Error.AddressInUse naming the current owner (no queueing).
    public func requestName(_ name: String, flags: NameFlags = []) async throws {
        try DBusSyntax.requireBusName(name)
        guard !name.hasPrefix(":") else { throw DBusError.invalidArgs("'\(name)' is a unique name and cannot be requested") }
        let doNotQueue: UInt32 = 0x4
        let reply = try await callBus("RequestName", [.string(name), .uint32(flags.rawValue | doNotQueue)])
        switch reply.first?.uint32Value {
        case 1, 4: return // primary owner / already the owner
        case 3:
            let owner = (try? await callBus("GetNameOwner", [.string(name)]).first?.stringValue) ?? nil
            throw DBusError(
                name: DBusError.Name.addressInUse,
                message: "The bus name \(name) is already owned by \(owner.map { "connection \($0)" } ?? "another connection"); is another instance running?")
        default:
            throw DBusError.failed("The bus refused the name \(name) (RequestName answered \(reply))")
        }
    }

    /// Gives a well-known name up.
    public func releaseName(_ name: String) async throws {
        try DBusSyntax.requireBusName(name)
        _ = try await callBus("ReleaseName", [.string(name)])
    }

    private func callBus(_ member: String, _ arguments: [DBusValue]) async throws -> [DBusValue] {
        try await call(
            destination: "org.freedesktop.DBus", path: "/org/freedesktop/DBus",
            interface: "org.freedesktop.DBus", member: member, arguments: arguments)
    }

    // MARK: - Exporting objects

    /// Serves `object` at exactly `path` (replacing what was there).
    public func export(_ object: DBusObject, at path: String) throws {
        try DBusSyntax.requireObjectPath(path)
        try core.performSync { $0.objects[path] = object }
    }

    public func unexport(at path: String) {
        try? core.performSync { _ = $0.objects.removeValue(forKey: path) }
    }

    /// Serves every path at or below `root` that has no object of its own through
    /// `subtree.resolve` (libdbus calls this a fallback).
    public func exportSubtree(_ subtree: DBusSubtree, at root: String) throws {
        try DBusSyntax.requireObjectPath(root)
        try core.performSync { $0.subtrees[root] = subtree }
    }

    public func unexportSubtree(at root: String) {
        try? core.performSync { _ = $0.subtrees.removeValue(forKey: root) }
    }

    // MARK: - Signals

    /// Emits a signal; safe from any thread, queued for the socket before this returns.
    public func emitSignal(
        path: String, interface: String, member: String, arguments: [DBusValue] = [], destination: String? = nil
    ) throws {
        let message = try Message.signal(path: path, interface: interface, member: member, arguments: arguments, destination: destination)
        try core.performSync { core throws(DBusError) in try core.send(message) }
    }

    /// Emits org.freedesktop.DBus.Properties.PropertiesChanged with the given values.
    public func emitPropertiesChanged(
        path: String, interface: String, changed: [(String, DBusValue)], invalidated: [String] = []
    ) throws {
        try DBusSyntax.requireInterfaceName(interface)
        for name in invalidated { try DBusSyntax.requireMemberName(name) }
        for (name, _) in changed { try DBusSyntax.requireMemberName(name) }
        try emitSignal(
            path: path, interface: DBusInterfaceInfo.propertiesName, member: "PropertiesChanged",
            arguments: [.string(interface), .vardict(changed), .array("s", invalidated.map(DBusValue.string))])
    }

    /// Emits PropertiesChanged for properties of an exported object, reading their current
    /// values through the getters and honouring each property's EmitsChangedSignal
    /// annotation (`true`: value, `invalidates`: name only, `const`/`false`: nothing).
    public func emitPropertiesChanged(path: String, interface: String, names: [String]) throws {
        try core.performSync { core throws(DBusError) in
            guard case .object(let object, _) = core.resolve(path), let implementation = object.interface(named: interface) else {
                throw DBusError(name: DBusError.Name.unknownInterface, message: "Nothing exports \(interface) at '\(path)'")
            }
            do {
                try core.emitChanged(path: path, interface: implementation, names: names)
            } catch {
                throw DBusDeferredReply.dbusError(from: error)
            }
        }
    }

    // MARK: - Calling methods

    /// Calls a method and waits for its reply. Throws the peer's `DBusError` for an error
    /// reply, org.freedesktop.DBus.Error.NoReply on timeout, and CancellationError when
    /// the task is cancelled.
    public func call(
        destination: String?, path: String, interface: String?, member: String,
        arguments: [DBusValue] = [], timeout: Duration = .seconds(25)
    ) async throws -> [DBusValue] {
        let message = try Message.methodCall(destination: destination, path: path, interface: interface, member: member, arguments: arguments)
        let id = core.makeIdentifier()
        let milliseconds = Self.milliseconds(timeout)
        let core = self.core
        defer { core.perform { $0.forgetCancellation(id) } }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                core.perform { core in
                    core.startCall(message, id: id, timeoutMilliseconds: milliseconds) { continuation.resume(with: $0) }
                }
            }
        } onCancel: {
            core.perform { $0.cancelCall(id) }
        }
    }

    /// `call` for code without async context: blocks the calling thread (never call it from
    /// a handler running on the connection's queue).
    public func callBlocking(
        destination: String?, path: String, interface: String?, member: String,
        arguments: [DBusValue] = [], timeout: Duration = .seconds(25)
    ) throws -> [DBusValue] {
        guard !core.isOnQueue else {
            throw DBusError.failed("callBlocking from the connection's own queue would deadlock; use a deferred or async handler")
        }
        let message = try Message.methodCall(destination: destination, path: path, interface: interface, member: member, arguments: arguments)
        let id = core.makeIdentifier()
        let milliseconds = Self.milliseconds(timeout)
        let outcome = BlockingOutcome()
        core.perform { core in
            core.startCall(message, id: id, timeoutMilliseconds: milliseconds) { result in outcome.set(result) }
        }
        return try outcome.wait()
    }

    /// Sends a method call that asks for no reply (`NO_REPLY_EXPECTED`).
    public func send(
        destination: String?, path: String, interface: String?, member: String, arguments: [DBusValue] = []
    ) throws {
        let message = try Message.methodCall(destination: destination, path: path, interface: interface, member: member, arguments: arguments)
        message.setNoReply()
        try core.performSync { core throws(DBusError) in try core.send(message) }
    }

    static func milliseconds(_ duration: Duration) -> Int32 {
        let (seconds, attoseconds) = duration.components
        let total = seconds.multipliedReportingOverflow(by: 1000)
        guard !total.overflow else { return Int32.max }
        return Int32(clamping: max(1, total.partialValue + attoseconds / 1_000_000_000_000_000))
    }

    // MARK: - Properties (client side)

    public func getProperty(
        destination: String?, path: String, interface: String, name: String, timeout: Duration = .seconds(25)
    ) async throws -> DBusValue {
        let reply = try await call(
            destination: destination, path: path, interface: DBusInterfaceInfo.propertiesName, member: "Get",
            arguments: [.string(interface), .string(name)], timeout: timeout)
        guard reply.count == 1, case .variant(let value) = reply[0] else {
            throw DBusError.failed("Properties.Get answered '\(DBusValue.signature(of: reply))' instead of 'v'")
        }
        return value
    }

    public func getAllProperties(
        destination: String?, path: String, interface: String, timeout: Duration = .seconds(25)
    ) async throws -> [String: DBusValue] {
        let reply = try await call(
            destination: destination, path: path, interface: DBusInterfaceInfo.propertiesName, member: "GetAll",
            arguments: [.string(interface)], timeout: timeout)
        guard reply.count == 1, let properties = reply[0].vardictValue else {
            throw DBusError.failed("Properties.GetAll answered '\(DBusValue.signature(of: reply))' instead of 'a{sv}'")
        }
        return properties
    }

    public func setProperty(
        destination: String?, path: String, interface: String, name: String, value: DBusValue, timeout: Duration = .seconds(25)
    ) async throws {
        _ = try await call(
            destination: destination, path: path, interface: DBusInterfaceInfo.propertiesName, member: "Set",
            arguments: [.string(interface), .string(name), .variant(value)], timeout: timeout)
    }

    /// Fetches and parses a remote object's introspection data.
    public func introspect(destination: String?, path: String, timeout: Duration = .seconds(25)) async throws -> DBusNodeInfo {
        let reply = try await call(
            destination: destination, path: path, interface: DBusInterfaceInfo.introspectableName,
            member: "Introspect", timeout: timeout)
        guard let xml = reply.first?.stringValue else { throw DBusError.failed("Introspect returned no XML") }
        return try DBusNodeInfo(xml: xml)
    }

    // MARK: - Subscriptions

    /// Adds a match rule on the bus and calls `handler` (on the connection's queue) for every
    /// signal it selects, until the returned subscription is cancelled or released: keep it.
    public func subscribe(to rule: DBusMatchRule, handler: @escaping @Sendable (DBusSignal) -> Void) async throws -> DBusSubscription {
        try rule.validate()
        let id = core.makeIdentifier()
        // Registered locally first, so nothing the bus routes after AddMatch is missed.
        try core.performSync { $0.subscriptions[id] = (rule, handler) }
        do {
            _ = try await callBus("AddMatch", [.string(rule.description)])
        } catch {
            core.perform { _ = $0.subscriptions.removeValue(forKey: id) }
            throw error
        }
        return DBusSubscription(core: core, id: id, rule: rule)
    }

    /// Calls `handler` once, with the name, when `name` (typically a caller's unique name)
    /// loses its owner: the peer closed its connection or died. If the name has no owner
    /// already, the handler runs at once. Keep the returned subscription while interested
    /// (releasing it cancels the watch); cancel it when the peer's business is done.
    ///
    /// Each watch is a match rule on the bus, and the bus limits them per connection (512 on
    /// a default system bus): to follow any number of peers, use `watchUniqueNamesVanished`.
    public func watchNameVanished(_ name: String, handler: @escaping @Sendable (String) -> Void) async throws -> DBusSubscription {
        try DBusSyntax.requireBusName(name)
        let once = OnceFlag()
        var rule = Self.nameOwnerChanged
        rule.arguments = [0: name]
        let subscription = try await subscribe(to: rule) { signal in
            guard signal.arguments.count == 3, signal.arguments[2].stringValue == "", once.claim() else { return }
            handler(name)
        }
        // The owner may have left before the rule was in place.
        let hasOwner = try await callBus("NameHasOwner", [.string(name)]).first?.boolValue ?? false
        if !hasOwner, once.claim() { handler(name) }
        return subscription
    }

    /// Calls `handler` (on the connection's queue) with every unique name (`:1.42`) that leaves
    /// the bus from now on, its peer having closed its connection or died: one match rule
    /// however many peers come and go. Names that left before the rule was in place are not
    /// reported. The handler sees every peer on the bus leave, so it must be cheap for names
    /// it does not care about.
    public func watchUniqueNamesVanished(handler: @escaping @Sendable (String) -> Void) async throws -> DBusSubscription {
        try await subscribe(to: Self.nameOwnerChanged) { signal in
            // (name, old owner, new owner): a unique name is its own owner and never passes on.
            guard signal.arguments.count == 3, let name = signal.arguments[0].stringValue, name.hasPrefix(":"),
                  signal.arguments[2].stringValue == "" else { return }
            handler(name)
        }
    }

    private static let nameOwnerChanged = DBusMatchRule(
        type: .signal, sender: DBusMatchRule.busDriver, interface: "org.freedesktop.DBus",
        member: "NameOwnerChanged", path: "/org/freedesktop/DBus")
}

/// A signal subscription; cancelled by `cancel()` or when released.
public final class DBusSubscription: Sendable {
    private weak let core: ConnectionCore?
    private let id: UInt64
    public let rule: DBusMatchRule
    private let cancelled = OnceFlag()

    init(core: ConnectionCore, id: UInt64, rule: DBusMatchRule) {
        self.core = core
        self.id = id
        self.rule = rule
    }

    deinit { cancel() }

    /// Stops delivery at once and removes the rule from the bus.
    public func cancel() {
        guard cancelled.claim(), let core else { return }
        let id = id
        let ruleText = rule.description
        core.perform { core in
            guard core.subscriptions.removeValue(forKey: id) != nil else { return }
            guard let message = try? Message.methodCall(
                destination: "org.freedesktop.DBus", path: "/org/freedesktop/DBus", interface: "org.freedesktop.DBus",
                member: "RemoveMatch", arguments: [.string(ruleText)]) else { return }
            message.setNoReply()
            try? core.send(message)
        }
    }
}
