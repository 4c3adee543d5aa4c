import Synchronization

/// A method call received by an exported object, its arguments already checked against the
/// signature the interface declares.
public struct DBusMethodCall: Sendable {
    public let path: String
    public let interface: String
    public let member: String
    /// The caller's unique bus name (absent only on peer-to-peer connections).
    public let sender: String?
    public let signature: String
    public let arguments: [DBusValue]
    /// Whether the caller asked for no reply (replies are then dropped).
    public let expectsReply: Bool
}

/// The reply to one method call, sendable once from any thread. DBusKit hands one to every
/// handler; deferred handlers keep it and answer when their work is done.
public final class DBusDeferredReply: Sendable {
    private weak let core: ConnectionCore?
    private let message: Message
    private let outputSignature: String
    private let describedMember: String
    private let answered = Atomic<Bool>(false)

    init(core: ConnectionCore, message: Message, outputSignature: String, describedMember: String) {
        self.core = core
        self.message = message
        self.outputSignature = outputSignature
        self.describedMember = describedMember
    }

    deinit {
        // A handler that lost its reply must not leave the caller waiting for the timeout.
        if !answered.load(ordering: .acquiring) {
            deliver(error: DBusError(name: DBusError.Name.noReply, message: "\(describedMember) finished without replying"))
        }
    }

    /// Whether a reply (or error) was already sent.
    public var isAnswered: Bool { answered.load(ordering: .acquiring) }

    /// Sends the return values. Values whose types differ from the declared output signature
    /// are not sent; the caller gets an org.freedesktop.DBus.Error.Failed instead.
    public func send(_ values: [DBusValue]) {
        guard claim() else { return }
        let signature = DBusValue.signature(of: values)
        guard signature == outputSignature else {
            return deliver(error: .failed(
                "\(describedMember) produced a reply of type '\(signature)' but declares '\(outputSignature)'"))
        }
        do {
            let reply = try message.methodReturn(values)
            deliver(reply)
        } catch {
            deliver(error: error)
        }
    }

    /// Sends an error reply: a `DBusError` as it is, anything else as Failed.
    public func fail(_ error: any Error) {
        guard claim() else { return }
        deliver(error: Self.dbusError(from: error))
    }

    public func fail(name: String, message: String) {
        fail(DBusError(name: name, message: message))
    }

    private func claim() -> Bool {
        answered.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
    }

    private func deliver(error: DBusError) {
        guard let reply = message.errorReply(error) else { return }
        deliver(reply)
    }

    private func deliver(_ reply: Message) {
        guard message.expectsReply, let core else { return }
        core.perform { core in try? core.send(reply) }
    }

    static func dbusError(from error: any Error) -> DBusError {
        switch error {
        case let error as DBusError: error
        case is CancellationError: .failed("The operation was cancelled")
        default: .failed(String(describing: error))
        }
    }
}
