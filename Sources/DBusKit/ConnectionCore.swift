internal import CDBus
import Dispatch
import Synchronization

/// libdbus needs its thread support initialised before any other call (a no-op in recent
/// versions, but the documented contract). A global is initialised exactly once.
let dbusThreadsInitialised: Bool = dbus_threads_init_default() != 0

/// The state behind a `DBusConnection`. Every libdbus call on the connection and every
/// access to the mutable state below happens on `queue`, a serial queue; libdbus's own
/// callbacks (watches, timeouts, dispatch status, the filter, pending-call notifications)
/// are therefore also run there, because libdbus invokes them from inside calls made on it.
/// The socket is driven by dispatch sources on that queue rather than a blocking
/// read-write-dispatch loop, so a message queued from any thread goes out at once.
final class ConnectionCore: @unchecked Sendable {
    let queue: DispatchQueue
    private let queueKey = DispatchSpecificKey<UInt8>()

    /// The libdbus connection; nil once closed.
    private(set) var raw: OpaquePointer?

    private struct WatchSources {
        let watch: OpaquePointer
        var read: (any DispatchSourceRead)?
        var write: (any DispatchSourceWrite)?
    }
    private var watches: [Int: WatchSources] = [:]
    private var timeouts: [Int: (timeout: OpaquePointer, timer: (any DispatchSourceTimer)?)] = [:]

    // Exported objects and client state.
    var objects: [String: DBusObject] = [:]
    var subtrees: [String: DBusSubtree] = [:]
    var subscriptions: [UInt64: (rule: DBusMatchRule, handler: @Sendable (DBusSignal) -> Void)] = [:]
    private var pendingCalls: [UInt64: OpaquePointer] = [:]
    private var pendingCompletions: [UInt64: PendingCompletion] = [:]
    private var cancelledCalls: Set<UInt64> = []
    var disconnectHandler: (@Sendable () -> Void)?

    private let nextIdentifier = Atomic<UInt64>(1)

    init(label: String) {
        queue = DispatchQueue(label: label)
        queue.setSpecific(key: queueKey, value: 1)
    }

    var isOnQueue: Bool { DispatchQueue.getSpecific(key: queueKey) != nil }

    func makeIdentifier() -> UInt64 {
        nextIdentifier.wrappingAdd(1, ordering: .relaxed).oldValue
    }

    /// Runs `work` on the queue: inline when already there (a handler replying or emitting),
    /// else asynchronously.
    func perform(_ work: @escaping @Sendable (ConnectionCore) -> Void) {
        if isOnQueue {
            work(self)
        } else {
            queue.async { work(self) }
        }
    }

    /// Runs `work` on the queue and waits for it (inline when already there).
    func performSync<T>(_ work: (ConnectionCore) throws(DBusError) -> T) throws(DBusError) -> T {
        if isOnQueue { return try work(self) }
        let result: Result<T, DBusError> = queue.sync {
            do throws(DBusError) { return .success(try work(self)) } catch { return .failure(error) }
        }
        return try result.get()
    }

    // MARK: - Opening and closing

    /// Connects (blocking the calling thread, not the queue) and wires libdbus into the
    /// queue. For a bus the connection is registered (Hello) before this returns.
    func open(_ bus: DBusConnection.Bus) throws(DBusError) -> String {
        _ = dbusThreadsInitialised
        var error = CDBus.DBusError()
        dbus_error_init(&error)
        defer { dbus_error_free(&error) }
        let connection: OpaquePointer?
        switch bus {
        case .session: connection = dbus_bus_get_private(DBUS_BUS_SESSION, &error)
        case .system: connection = dbus_bus_get_private(DBUS_BUS_SYSTEM, &error)
        case .address(let address):
            guard DBusSyntax.isValidString(address) else { throw DBusError(name: DBusError.Name.badAddress, message: "Invalid bus address") }
            connection = dbus_connection_open_private(address, &error)
        }
        guard let connection else { throw Self.error(from: &error, fallback: "Cannot connect to the bus") }
        // libdbus's default for bus connections is to _exit() the process on disconnect.
        dbus_connection_set_exit_on_disconnect(connection, 0)
        if case .address = bus {
            guard dbus_bus_register(connection, &error) != 0 else {
                dbus_connection_close(connection)
                dbus_connection_unref(connection)
                throw Self.error(from: &error, fallback: "Cannot register with the bus")
            }
        }
        let name = dbus_bus_get_unique_name(connection).map { String(cString: $0) } ?? ""
        queue.sync { install(connection) }
        return name
    }

    private static func error(from error: inout CDBus.DBusError, fallback: String) -> DBusError {
        guard dbus_error_is_set(&error) != 0 else { return .failed(fallback) }
        let name = error.name.map { String(cString: $0) } ?? DBusError.Name.failed
        let message = error.message.map { String(cString: $0) } ?? fallback
        return DBusError(name: name, message: message)
    }

    /// Hooks libdbus's main-loop integration to the queue. Each registration holds its own
    /// reference to the core, released by libdbus when the connection is finalised.
    private func install(_ connection: OpaquePointer) {
        raw = connection
        let release: DBusFreeFunction = { data in
            guard let data else { return }
            Unmanaged<ConnectionCore>.fromOpaque(data).release()
        }
        func retained() -> UnsafeMutableRawPointer { Unmanaged.passRetained(self).toOpaque() }
        dbus_connection_set_watch_functions(
            connection,
            { watch, data in ConnectionCore.from(data).addWatch(watch) ? 1 : 0 },
            { watch, data in ConnectionCore.from(data).removeWatch(watch) },
            { watch, data in ConnectionCore.from(data).updateWatch(watch) },
            retained(), release)
        dbus_connection_set_timeout_functions(
            connection,
            { timeout, data in ConnectionCore.from(data).addTimeout(timeout) ? 1 : 0 },
            { timeout, data in ConnectionCore.from(data).removeTimeout(timeout) },
            { timeout, data in ConnectionCore.from(data).updateTimeout(timeout) },
            retained(), release)
        // May be called with libdbus locks held: only schedule work here.
        dbus_connection_set_dispatch_status_function(
            connection,
            { _, status, data in
                guard status == DBUS_DISPATCH_DATA_REMAINS else { return }
                let core = ConnectionCore.from(data)
                core.queue.async { core.dispatchPending() }
            },
            retained(), release)
        dbus_connection_add_filter(
            connection,
            { _, message, data in
                guard let message else { return DBUS_HANDLER_RESULT_NOT_YET_HANDLED }
                return ConnectionCore.from(data).filter(Message(retaining: message))
            },
            retained(), release)
        // Messages may already be queued (e.g. NameAcquired after Hello).
        queue.async { self.dispatchPending() }
    }

    private static func from(_ data: UnsafeMutableRawPointer?) -> ConnectionCore {
        // Every registration above passes a retained core as its data.
        Unmanaged<ConnectionCore>.fromOpaque(data!).takeUnretainedValue()
    }

    /// Closes the connection (on the queue): pending calls fail with Disconnected, exported
    /// objects and subscriptions are dropped (breaking reference cycles through handlers).
    func close() {
        guard let connection = raw else { return }
        raw = nil
        dbus_connection_close(connection)
        for (_, pending) in pendingCalls {
            dbus_pending_call_cancel(pending)
            dbus_pending_call_unref(pending)
        }
        pendingCalls.removeAll()
        let completions = pendingCompletions
        pendingCompletions.removeAll()
        for (_, completion) in completions { completion.finish(.failure(DBusError.notConnected)) }
        for (_, sources) in watches {
            sources.read?.cancel()
            sources.write?.cancel()
        }
        watches.removeAll()
        for (_, entry) in timeouts { entry.timer?.cancel() }
        timeouts.removeAll()
        // Swap the tables out before dropping them: releasing a handler can release a
        // subscription whose deinit cancels itself through this object, which must not find a
        // dictionary in the middle of `removeAll` (an exclusivity violation).
        let dropped = (objects, subtrees, subscriptions, disconnectHandler)
        objects = [:]
        subtrees = [:]
        subscriptions = [:]
        disconnectHandler = nil
        dbus_connection_unref(connection)
        withExtendedLifetime(dropped) {}
    }

    var isConnected: Bool {
        guard let raw else { return false }
        return dbus_connection_get_is_connected(raw) != 0
    }

    // MARK: - Watches: one read and/or write source per enabled libdbus watch

    private func key(_ pointer: OpaquePointer?) -> Int { pointer.map { Int(bitPattern: UnsafeRawPointer($0)) } ?? 0 }

    private func addWatch(_ watch: OpaquePointer?) -> Bool {
        guard let watch else { return false }
        watches[key(watch)] = WatchSources(watch: watch)
        updateWatch(watch)
        return true
    }

    private func removeWatch(_ watch: OpaquePointer?) {
        guard let sources = watches.removeValue(forKey: key(watch)) else { return }
        sources.read?.cancel()
        sources.write?.cancel()
    }

    /// (Re)creates the sources for a watch according to its enabled state and flags; a
    /// disabled write watch must not keep a write source (it would spin).
    private func updateWatch(_ watch: OpaquePointer?) {
        let id = key(watch)
        guard let watch, var sources = watches[id] else { return }
        sources.read?.cancel()
        sources.write?.cancel()
        sources.read = nil
        sources.write = nil
        if dbus_watch_get_enabled(watch) != 0 {
            let descriptor = dbus_watch_get_unix_fd(watch)
            let flags = dbus_watch_get_flags(watch)
            if descriptor >= 0, flags & DBUS_WATCH_READABLE.rawValue != 0 {
                let source = DispatchSource.makeReadSource(fileDescriptor: descriptor, queue: queue)
                source.setEventHandler { [unowned self] in self.handleWatch(id, DBUS_WATCH_READABLE.rawValue) }
                source.resume()
                sources.read = source
            }
            if descriptor >= 0, flags & DBUS_WATCH_WRITABLE.rawValue != 0 {
                let source = DispatchSource.makeWriteSource(fileDescriptor: descriptor, queue: queue)
                source.setEventHandler { [unowned self] in self.handleWatch(id, DBUS_WATCH_WRITABLE.rawValue) }
                source.resume()
                sources.write = source
            }
        }
        watches[id] = sources
    }

    private func handleWatch(_ id: Int, _ flag: UInt32) {
        guard raw != nil, let sources = watches[id] else { return }
        dbus_watch_handle(sources.watch, flag)
        dispatchPending()
    }

    // MARK: - Timeouts: a repeating timer per enabled libdbus timeout

    private func addTimeout(_ timeout: OpaquePointer?) -> Bool {
        guard let timeout else { return false }
        timeouts[key(timeout)] = (timeout, nil)
        updateTimeout(timeout)
        return true
    }

    private func removeTimeout(_ timeout: OpaquePointer?) {
        timeouts.removeValue(forKey: key(timeout))?.timer?.cancel()
    }

    private func updateTimeout(_ timeout: OpaquePointer?) {
        let id = key(timeout)
        guard let timeout, var entry = timeouts[id] else { return }
        entry.timer?.cancel()
        entry.timer = nil
        if dbus_timeout_get_enabled(timeout) != 0 {
            let interval = max(1, Int(dbus_timeout_get_interval(timeout)))
            let timer = DispatchSource.makeTimerSource(queue: queue)
            timer.schedule(deadline: .now() + .milliseconds(interval), repeating: .milliseconds(interval))
            timer.setEventHandler { [unowned self] in
                guard self.raw != nil, let entry = self.timeouts[id] else { return }
                dbus_timeout_handle(entry.timeout)
                self.dispatchPending()
            }
            timer.resume()
            entry.timer = timer
        }
        timeouts[id] = entry
    }

    // MARK: - Dispatching

    /// Dispatches queued incoming messages, a bounded batch at a time so that a flood cannot
    /// starve sends and timers scheduled on the same queue.
    func dispatchPending() {
        var budget = 64
        while let connection = raw, dbus_connection_get_dispatch_status(connection) == DBUS_DISPATCH_DATA_REMAINS {
            guard budget > 0 else {
                queue.async { self.dispatchPending() }
                return
            }
            budget -= 1
            dbus_connection_dispatch(connection)
        }
    }

    private func filter(_ message: Message) -> DBusHandlerResult {
        switch message.type {
        case DBUS_MESSAGE_TYPE_SIGNAL:
            handleSignal(message)
            return DBUS_HANDLER_RESULT_NOT_YET_HANDLED
        case DBUS_MESSAGE_TYPE_METHOD_CALL:
            return route(message) ? DBUS_HANDLER_RESULT_HANDLED : DBUS_HANDLER_RESULT_NOT_YET_HANDLED
        default:
            return DBUS_HANDLER_RESULT_NOT_YET_HANDLED
        }
    }

    private func handleSignal(_ message: Message) {
        guard let path = message.path, let interface = message.interface, let member = message.member else { return }
        if interface == "org.freedesktop.DBus.Local" && member == "Disconnected" {
            let handler = disconnectHandler
            disconnectHandler = nil
            handler?()
            return
        }
        guard !subscriptions.isEmpty, let arguments = try? DBusValue.readAll(from: message.raw) else { return }
        let signal = DBusSignal(
            sender: message.sender, destination: message.destination, path: path, interface: interface,
            member: member, signature: message.signature, arguments: arguments)
        for (_, subscription) in subscriptions.sorted(by: { $0.key < $1.key }) where subscription.rule.matches(signal) {
            subscription.handler(signal)
        }
    }

    // MARK: - Sending

    /// Queues a message for sending (on the queue). libdbus writes as much as the socket
    /// takes right away; the write watch sends the rest.
    func send(_ message: Message) throws(DBusError) {
        guard let connection = raw, dbus_connection_get_is_connected(connection) != 0 else { throw .notConnected }
        if dbus_message_contains_unix_fds(message.raw) != 0, dbus_connection_can_send_type(connection, TypeCode.unixFD) == 0 {
            throw .failed("This connection cannot pass file descriptors")
        }
        guard dbus_connection_send(connection, message.raw, nil) != 0 else { throw .outOfMemory }
    }

    // MARK: - Calls awaiting a reply

    final class PendingCompletion: @unchecked Sendable {
        // Touched only on the queue.
        private var body: (@Sendable (Result<[DBusValue], any Error>) -> Void)?
        init(_ body: @escaping @Sendable (Result<[DBusValue], any Error>) -> Void) { self.body = body }
        func finish(_ result: Result<[DBusValue], any Error>) {
            guard let body else { return }
            self.body = nil
            body(result)
        }
    }

    /// Sends a call and reports its reply (or error, or timeout as NoReply) through
    /// `completion`, which runs once on the queue.
    func startCall(
        _ message: Message, id: UInt64, timeoutMilliseconds: Int32,
        completion: @escaping @Sendable (Result<[DBusValue], any Error>) -> Void
    ) {
        let box = PendingCompletion(completion)
        if cancelledCalls.remove(id) != nil { return box.finish(.failure(CancellationError())) }
        guard let connection = raw, dbus_connection_get_is_connected(connection) != 0 else {
            return box.finish(.failure(DBusError.notConnected))
        }
        if dbus_message_contains_unix_fds(message.raw) != 0, dbus_connection_can_send_type(connection, TypeCode.unixFD) == 0 {
            return box.finish(.failure(DBusError.failed("This connection cannot pass file descriptors")))
        }
        var pendingOut: OpaquePointer?
        guard dbus_connection_send_with_reply(connection, message.raw, &pendingOut, timeoutMilliseconds) != 0 else {
            return box.finish(.failure(DBusError.outOfMemory))
        }
        guard let pending = pendingOut else { return box.finish(.failure(DBusError.notConnected)) }
        pendingCalls[id] = pending
        pendingCompletions[id] = box
        let context = PendingContext(core: self, id: id)
        let notified = dbus_pending_call_set_notify(
            pending,
            { _, data in
                guard let data else { return }
                let context = Unmanaged<PendingContext>.fromOpaque(data).takeUnretainedValue()
                context.core?.completeCall(context.id)
            },
            Unmanaged.passRetained(context).toOpaque(),
            { data in
                guard let data else { return }
                Unmanaged<PendingContext>.fromOpaque(data).release()
            })
        if notified == 0 {
            dbus_pending_call_cancel(pending)
            completeCall(id, forced: .failure(DBusError.outOfMemory))
        } else if dbus_pending_call_get_completed(pending) != 0 {
            completeCall(id)
        }
    }

    private final class PendingContext: @unchecked Sendable {
        weak var core: ConnectionCore?
        let id: UInt64
        init(core: ConnectionCore, id: UInt64) {
            self.core = core
            self.id = id
        }
    }

    private func completeCall(_ id: UInt64, forced: Result<[DBusValue], any Error>? = nil) {
        guard let pending = pendingCalls.removeValue(forKey: id), let box = pendingCompletions.removeValue(forKey: id) else { return }
        defer { dbus_pending_call_unref(pending) }
        if let forced { return box.finish(forced) }
        guard let replyRaw = dbus_pending_call_steal_reply(pending) else {
            return box.finish(.failure(DBusError(name: DBusError.Name.noReply, message: "No reply was received")))
        }
        let reply = Message(adopting: replyRaw)
        if reply.type == DBUS_MESSAGE_TYPE_ERROR {
            box.finish(.failure(reply.asError()))
        } else {
            box.finish(Result { () throws(DBusError) in try DBusValue.readAll(from: reply.raw) }.mapError { $0 as any Error })
        }
    }

    /// Abandons a call (task cancellation); its completion gets CancellationError.
    func cancelCall(_ id: UInt64) {
        guard let pending = pendingCalls[id] else {
            cancelledCalls.insert(id)
            return
        }
        dbus_pending_call_cancel(pending)
        completeCall(id, forced: .failure(CancellationError()))
    }

    /// Forgets a cancellation mark for a call that finished before it was cancelled.
    func forgetCancellation(_ id: UInt64) {
        cancelledCalls.remove(id)
    }
}
