import DBusKit
import Synchronization

/// Notices when a client that submitted jobs leaves the bus (closes its connection or dies),
/// so its image reads can be abandoned and its unfinished jobs cancelled. One match rule (every NameOwnerChanged, filtered
/// here) serves all clients: the bus limits rules per connection (512 on a default system
/// bus), so a rule per caller would leave the jobs of callers past that limit running after
/// they left.
///
/// A caller may leave while its Animate is in progress, before the engine has the job (or
/// even the read). Animate's handler registers the submission first, on the connection's
/// queue, where the bus's notice of that caller leaving can only come later (the bus forwards
/// a peer's calls before its departure); a departure seen meanwhile is kept until the
/// submission ends, which then cancels what it queued. No list of departed names is needed: unique names are never
/// reused, and nothing else can still arrive from a caller that left.
final class CallerWatch: Sendable {
    private struct Submissions {
        var count = 0
        var callerLeft = false
    }

    private let connection: DBusConnection
    private let onVanish: @Sendable (String) -> Void
    /// Submissions in progress, by caller.
    private let submitting = Mutex<[String: Submissions]>([:])
    private let subscription = Mutex<DBusSubscription?>(nil)

    /// `onVanish` runs with the unique name of every client that leaves the bus (on the
    /// connection's queue, so it must be quick), and again when a submission of a client that
    /// left during it ends.
    init(connection: DBusConnection, onVanish: @escaping @Sendable (String) -> Void) {
        self.connection = connection
        self.onVanish = onVanish
    }

    /// Subscribes to clients leaving. Call before the objects are exported and the name is
    /// requested, so that no caller can leave unseen.
    func start() async throws {
        let watch = try await connection.watchUniqueNamesVanished { [weak self] name in self?.left(name) }
        subscription.withLock { $0 = watch }
    }

    /// Notes a submission by `name` that the engine does not have yet. Call from the method
    /// handler, on the connection's queue, before anything can block.
    func submissionStarted(by name: String) {
        submitting.withLock { $0[name, default: Submissions()].count += 1 }
    }

    /// Ends what `submissionStarted` began, once the engine has queued (or refused) the job;
    /// cancels the caller's jobs at once if it left meanwhile.
    func submissionEnded(by name: String) {
        let callerLeft = submitting.withLock { submitting -> Bool in
            guard var entry = submitting[name] else { return false }
            entry.count -= 1
            submitting[name] = entry.count > 0 ? entry : nil
            return entry.callerLeft
        }
        if callerLeft { onVanish(name) }
    }

    private func left(_ name: String) {
        submitting.withLock { $0[name]?.callerLeft = true }
        onVanish(name)
    }
}
