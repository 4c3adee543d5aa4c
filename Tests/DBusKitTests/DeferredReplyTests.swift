import TestingSupport
import DBusKit
import Foundation
import Testing

/// Replies that come later than the call, and the client's timeouts and cancellation.
@Suite struct DeferredReplyTests {
    @Test func pendingRepliesDoNotBlockOtherCalls() async throws {
        try await withTestService { test in
            // Wait's reply is held back until Release: no timing involved.
            let waiting = Task { try await test.call("Wait") }
            while test.waiters.withLock({ $0.isEmpty }) { try await Task.sleep(for: .milliseconds(2)) }
            let clock = ContinuousClock()
            let start = clock.now
            for index in 0..<10 {
                #expect(try await test.call("Echo", [.vardict(["n": .int32(Int32(index))])]) == [.vardict(["n": .int32(Int32(index))])])
            }
            let elapsed = clock.now - start
            #expect(test.waiters.withLock { $0.count } == 1)
            #expect(try await test.call("Release") == [.uint32(1)])
            #expect(try await waiting.value == [.uint32(1)])
            print("DBusKit: 10 calls served in \(elapsed) while a deferred reply was pending")

            // A reply sent later from another thread, and an async handler.
            #expect(try await test.call("Slow", [.uint32(50)]) == [.uint32(50)])
            #expect(try await test.call("AsyncDouble", [.double(1.25)]) == [.double(2.5)])
        }
    }

    @Test func droppedRepliesAndTimeoutsEndTheCall() async throws {
        try await withTestService { test in
            // A deferred handler that forgets its reply object: the caller is told, not left hanging.
            let forgotten = await dbusError { try await test.call("Forget") }
            #expect(forgotten?.name == DBusError.Name.noReply)

            // The client's own timeout (a libdbus timeout driven by a dispatch timer).
            let clock = ContinuousClock()
            let start = clock.now
            // The reply would take 20 s: NoReply can only come from the 150 ms timeout, which fires
            // on the connection's queue. No upper bound on the elapsed time: with the whole suite
            // running, CPU-bound tests can hold both cooperative threads, delaying this task's
            // resumption well past the timeout itself.
            let timedOut = await dbusError { try await test.call("Slow", [.uint32(20000)], timeout: .milliseconds(150)) }
            let elapsed = clock.now - start
            #expect(timedOut?.name == DBusError.Name.noReply)
            #expect(elapsed >= .milliseconds(140))

            // Cancelling the task abandons the call promptly.
            // (The reply would take 20 s; only the cancellation can end the call with
            // CancellationError. The time bound is loose for the same reason as above.)
            let task = Task { try await test.call("Slow", [.uint32(20000)]) }
            try await Task.sleep(for: .milliseconds(50))
            let cancelStart = clock.now
            task.cancel()
            var sawCancellation = false
            do { _ = try await task.value } catch is CancellationError { sawCancellation = true }
            #expect(sawCancellation)
            #expect(clock.now - cancelStart < .seconds(15))

            // And the connection is fine afterwards.
            #expect(try await test.call("Sender") == [.string(test.client.uniqueName)])
        }
    }

    @Test func manyConcurrentCallsAllGetTheirOwnReplies() async throws {
        try await withTestService { test in
            let results = try await withThrowingTaskGroup(of: (Int, [DBusValue]).self) { group in
                for index in 0..<200 {
                    group.addTask {
                        if index % 10 == 0 {
                            return (index, try await test.call("Slow", [.uint32(UInt32(index % 7))]))
                        }
                        return (index, try await test.call("Echo", [.vardict(["i": .int32(Int32(index))])]))
                    }
                }
                var collected: [Int: [DBusValue]] = [:]
                for try await (index, reply) in group { collected[index] = reply }
                return collected
            }
            #expect(results.count == 200)
            for (index, reply) in results {
                let expected: [DBusValue] = index % 10 == 0
                    ? [.uint32(UInt32(index % 7))] : [.vardict(["i": .int32(Int32(index))])]
                #expect(reply == expected)
            }
        }
    }
}
