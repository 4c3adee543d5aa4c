import Synchronization

/// One `submit` that is reading its image(s). Reading does not hold a place in the queue (a
/// client whose pipe never closes must not lock others out); instead the engine counts the
/// reads of each caller and can abandon them: when their caller leaves the bus, or the daemon
/// stops, a read waiting on a silent pipe gives up within a poll interval.
final class IntakeTicket: Sendable {
    let owner: String
    private let reason = Mutex<ServiceError?>(nil)

    init(owner: String) {
        self.owner = owner
    }

    /// Makes the read fail with `error` at its next poll (the first reason wins).
    func abandon(_ error: ServiceError) {
        reason.withLock { if $0 == nil { $0 = error } }
    }

    /// Why the read was abandoned; nil while it may go on.
    var abandoned: ServiceError? { reason.withLock { $0 } }
}
