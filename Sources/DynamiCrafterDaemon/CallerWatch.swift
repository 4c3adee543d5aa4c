import DBusKit
import Logging
import Synchronization

/// Notices when a client that submitted jobs leaves the bus (closes its connection or dies),
/// so its unfinished jobs can be cancelled. One bus match per client, kept until it leaves;
/// unique names are never reused, so a name seen leaving is remembered (a bounded list) to
/// catch jobs submitted in the instant before the watch was in place.
final class CallerWatch: Sendable {
    private struct State {
        /// Watched clients: the subscription, or nil while it is being set up.
        var watches: [String: DBusSubscription?] = [:]
        var vanished: [String] = []
    }

    private static let rememberedVanished = 4096

    private let connection: DBusConnection
    private let logger: Logger
    private let onVanish: @Sendable (String) -> Void
    private let state = Mutex(State())

    init(connection: DBusConnection, logger: Logger, onVanish: @escaping @Sendable (String) -> Void) {
        self.connection = connection
        self.logger = logger
        self.onVanish = onVanish
    }

    /// Starts watching `name` (a caller's unique name) unless already watched.
    func watch(_ name: String) {
        enum Action { case none, start, alreadyGone }
        let action: Action = state.withLock { state in
            if state.vanished.contains(name) { return .alreadyGone }
            if state.watches[name] != nil { return .none }
            state.watches[name] = .some(nil)
            return .start
        }
        switch action {
        case .none: return
        case .alreadyGone: onVanish(name)
        case .start:
            let connection = connection
            Task { [self] in
                do {
                    let subscription = try await connection.watchNameVanished(name) { [weak self] gone in self?.vanished(gone) }
                    let keep = state.withLock { state -> Bool in
                        guard case .some(.none) = state.watches[name] else { return false }
                        state.watches[name] = subscription
                        return true
                    }
                    if !keep { subscription.cancel() }
                } catch {
                    logger.warning("cannot watch client \(name) for leaving the bus: \(error)")
                    state.withLock { _ = $0.watches.removeValue(forKey: name) }
                }
            }
        }
    }

    private func vanished(_ name: String) {
        let subscription: DBusSubscription?? = state.withLock { state in
            state.vanished.append(name)
            if state.vanished.count > Self.rememberedVanished { state.vanished.removeFirst(state.vanished.count - Self.rememberedVanished) }
            return state.watches.removeValue(forKey: name)
        }
        // Not from inside the subscription's own handler.
        if case .some(.some(let subscription)) = subscription {
            Task { subscription.cancel() }
        }
        onVanish(name)
    }

    /// Clients currently watched (for tests and logs).
    var watchedCount: Int { state.withLock { $0.watches.count } }
}
