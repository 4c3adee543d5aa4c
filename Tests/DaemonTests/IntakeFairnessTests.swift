import DBusKit
import Foundation
import Synchronization
import Testing
import TestingSupport
#if canImport(Glibc)
import Glibc
#endif

/// Reading a client's image holds no place in the queue: a client whose pipes never close can
/// tie up two reads of its own and no more, its reads end when it leaves the bus, and every
/// call still reading at SIGTERM is answered.
extension DaemonTests {
    /// A pipe holding the start of a PNG whose writing end stays open: a read that never ends.
    static func stalledPipe() throws -> (reader: DBusUnixFD, writer: Int32) {
        var ends: [Int32] = [0, 0]
        try #require(pipe(&ends) == 0)
        let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47]
        _ = signature.withUnsafeBytes { write(ends[1], $0.baseAddress, $0.count) }
        return (DBusUnixFD(taking: ends[0]), ends[1])
    }

    @Test("a client stalling eight reads takes two, locks nobody out, and frees them when it leaves")
    func stalledReadsDoNotLockOthersOut() async throws {
        try await DaemonBus.with { bus, connection in
            let png = try Fixtures.png(width: 64, height: 64)
            _ = try await bus.daemonPID(connection)
            let staller = try bus.connect()
            var writers: [Int32] = []
            defer { for fd in writers { close(fd) } }
            let answers = Answers()
            for index in 0..<8 {
                let (reader, writer) = try Self.stalledPipe()
                writers.append(writer)
                Task { answers.record(index, await dbusError { _ = try await staller.animate(fd: reader, quickJob(steps: 1)) }) }
            }
            // Refusals come back at once; accepted reads stay unanswered.
            try await Task.sleep(for: .seconds(1))
            let refused = answers.all.compactMap { $0.value }
            #expect(answers.all.count == 6, "answered: \(answers.all.count) of 8")
            #expect(refused.count == 6)
            for error in refused {
                #expect(error.name == DaemonBus.errorPrefix + "Busy")
                #expect(error.message.contains("already has 2 images being read"), "\(error.message)")
            }
            #expect(try await connection.managerProperty("QueueLength") == .uint32(0))

            // Another client is served meanwhile.
            let signals = try await JobSignals.subscribe(connection)
            let started = ContinuousClock.now
            let job = try await connection.animate(imagePath: png, quickJob(steps: 1))
            let accepted = ContinuousClock.now - started
            #expect(accepted < .seconds(5), "accepted after \(accepted)")
            #expect(try await signals.waitForCompletion(of: job).success)

            // The stalling client leaves: its reads end at once (their calls are moot) and the
            // next caller is accepted at once.
            let stallerName = staller.uniqueName
            staller.close()
            let left = ContinuousClock.now
            while !bus.log.contains("client \(stallerName) left the bus: abandoned 2 image read(s)") && ContinuousClock.now - left < .seconds(2) {
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(bus.log.contains("client \(stallerName) left the bus: abandoned 2 image read(s)"), "\(bus.log)")
            let next = try await connection.animate(imagePath: png, quickJob(steps: 1))
            #expect(ContinuousClock.now - left < .seconds(2))
            #expect(try await signals.waitForCompletion(of: next).success)
        }
    }

    @Test("an Animate still reading its image at SIGTERM is answered ShuttingDown")
    func readingAtShutdownIsAnswered() async throws {
        try await DaemonBus.with { bus, connection in
            let pid = try await bus.daemonPID(connection)
            let (reader, writer) = try Self.stalledPipe()
            defer { close(writer) }
            let answers = Answers()
            let call = Task { await dbusError { _ = try await connection.animate(fd: reader, quickJob(steps: 1)) } }
            Task { answers.record(0, await call.value) }
            try await Task.sleep(for: .milliseconds(300))
            #expect(answers.all.isEmpty, "the read should still be waiting for the pipe")
            let sent = ContinuousClock.now
            #expect(kill(pid, SIGTERM) == 0)
            let error = await call.value
            #expect(error?.name == DaemonBus.errorPrefix + "ShuttingDown", "\(String(describing: error))")
            #expect(ContinuousClock.now - sent < .seconds(5))
        }
    }
}

/// The answers (nil: success) of calls made in the background, by index.
final class Answers: Sendable {
    private let answers = Mutex<[Int: DBusError?]>([:])

    func record(_ index: Int, _ error: DBusError?) { answers.withLock { $0[index] = error } }

    var all: [Int: DBusError?] { answers.withLock { $0 } }
}
