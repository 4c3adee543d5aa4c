import DBusKit
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// The daemon's bus connection: shut down last, so that every signal the other services send
/// while stopping still goes out. Losing the connection is an error that stops the daemon
/// (exit status 1); a graceful shutdown leaves the bus politely (releasing the name is a round
/// trip, so every signal sent before it has reached the bus) and closes the connection.
struct BusConnectionService: Service {
    enum Lost: Error, CustomStringConvertible {
        case connection
        var description: String { "the bus connection was lost" }
    }

    private enum Ending: Sendable { case lost, shutdown }

    let connection: DBusConnection
    let logger: Logger

    func run() async throws {
        let (endings, ending) = AsyncStream.makeStream(of: Ending.self, bufferingPolicy: .unbounded)
        connection.setDisconnectHandler { ending.yield(.lost) }
        defer { connection.setDisconnectHandler(nil) }
        let first = await withGracefulShutdownHandler {
            await endings.first { _ in true }
        } onGracefulShutdown: {
            ending.yield(.shutdown)
        }
        if first != .shutdown {
            logger.info("stopping: \(Lost.connection)")
            throw Lost.connection
        }
        if connection.isConnected {
            let connection = connection
            _ = try? await withDeadline(seconds: 2) { try await connection.releaseName(AnimatorInterface.busName) }
        }
        connection.close()
    }
}

/// Runs `operation` and returns its result, or throws `DBusError` (timeout) after `seconds`
/// without waiting for it: a bus that stopped answering must not hold up the shutdown.
func withDeadline<T: Sendable>(seconds: Double, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
    let outcome = FirstOutcome<T>()
    return try await withCheckedThrowingContinuation { continuation in
        outcome.set(continuation)
        let work = Task {
            do { outcome.finish(.success(try await operation())) } catch { outcome.finish(.failure(error)) }
        }
        Task {
            try? await Task.sleep(for: .seconds(seconds))
            outcome.finish(.failure(DBusError(name: DBusError.Name.timeout, message: "no answer within \(seconds) s")))
            work.cancel()
        }
    }
}

/// A continuation resumed by whichever of several racers finishes first.
private final class FirstOutcome<T: Sendable>: Sendable {
    private let continuation = Mutex<CheckedContinuation<T, any Error>?>(nil)

    func set(_ value: CheckedContinuation<T, any Error>) { continuation.withLock { $0 = value } }

    func finish(_ result: Result<T, any Error>) {
        continuation.withLock { $0.take() }?.resume(with: result)
    }
}
