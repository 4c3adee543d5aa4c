import TestingSupport
import DBusKit
import Dispatch
import Foundation
import Synchronization
import Testing

/// Signals emitted from worker threads, property notifications and name watching, observed by
/// a second connection through the bus.
@Suite struct SignalTests {
    private static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    private static func summary(_ nanoseconds: [UInt64]) -> String {
        let sorted = nanoseconds.sorted()
        guard !sorted.isEmpty else { return "none" }
        func ms(_ value: UInt64) -> String { String(format: "%.3f ms", Double(value) / 1e6) }
        return "median \(ms(sorted[sorted.count / 2])), max \(ms(sorted[sorted.count - 1])) over \(sorted.count)"
    }

    @Test func signalsFromBackgroundThreadsArrivePromptly() async throws {
        try await withTestService { test in
            let received = Inbox<(n: UInt32, latency: UInt64)>()
            let subscription = try await test.client.subscribe(to: DBusMatchRule(
                sender: TestService.busName, interface: TestService.interfaceName, member: "Tick")) { signal in
                let arrived = Self.now()
                guard signal.signature == "ut", let n = signal.arguments[0].uint32Value,
                      let sent = signal.arguments[1].uint64Value else { return }
                received.append((n, arrived - sent))
            }
            defer { subscription.cancel() }

            // A plain thread, as the job engine's worker would be: no run loop, no queue.
            let service = test.service
            let count = 50
            Thread.detachNewThread {
                for n in 0..<count {
                    try? service.emitSignal(path: TestService.path, interface: TestService.interfaceName, member: "Tick",
                                            arguments: [.uint32(UInt32(n)), .uint64(Self.now())])
                    usleep(2000)
                }
            }
            let ticks = await received.wait(for: count)
            #expect(ticks.map(\.n) == (0..<UInt32(count)).map { $0 })
            let latencies = ticks.map(\.latency)
            #expect(latencies.allSatisfy { $0 < 1_000_000_000 })
            print("DBusKit signal latency (worker thread → client handler): \(Self.summary(latencies))")
        }
    }

    @Test func propertiesChangedFromBackgroundThreadsArrivePromptly() async throws {
        try await withTestService { test in
            let received = Inbox<(signal: DBusSignal, at: UInt64)>()
            let subscription = try await test.client.subscribe(to: DBusMatchRule(
                interface: "org.freedesktop.DBus.Properties", member: "PropertiesChanged", path: TestService.path)) { signal in
                received.append((signal, Self.now()))
            }
            defer { subscription.cancel() }

            let service = test.service, counter = test.count
            let started = Self.now()
            Thread.detachNewThread {
                for value in 1...20 as ClosedRange<UInt32> {
                    counter.withLock { $0 = value }
                    try? service.emitPropertiesChanged(path: TestService.path, interface: TestService.interfaceName, names: ["Count"])
                    usleep(1000)
                }
                // Explicit values and invalidations, and a const property that is never announced.
                try? service.emitPropertiesChanged(path: TestService.path, interface: TestService.interfaceName, names: ["Constant"])
                try? service.emitPropertiesChanged(path: TestService.path, interface: TestService.interfaceName,
                                                   changed: [("Label", .string("now"))], invalidated: ["Count"])
            }
            let signals = await received.wait(for: 21)
            #expect(signals.count == 21)
            let counts = signals.prefix(20).compactMap { $0.signal.arguments[1].vardictValue?["Count"]?.uint32Value }
            #expect(counts == Array(1...20))
            #expect(signals.last?.signal.arguments == [
                .string(TestService.interfaceName), .vardict(["Label": .string("now")]), .array("s", [.string("Count")]),
            ])
            let total = (signals.last?.at ?? started) - started
            #expect(total < 1_000_000_000)
            print("DBusKit PropertiesChanged: 21 signals from a worker thread delivered in \(Double(total) / 1e6) ms")
        }
    }

    @Test func vanishedCallersAreReported() async throws {
        try await withTestService { test in
            let leaving = try DBusConnection(.address(test.bus.address))
            let name = leaving.uniqueName
            let vanished = Inbox<(name: String, at: UInt64)>()
            let watch = try await test.service.watchNameVanished(name) { vanished.append(($0, Self.now())) }
            defer { watch.cancel() }
            try await Task.sleep(for: .milliseconds(20))
            #expect(vanished.values.isEmpty)

            let closed = Self.now()
            leaving.close()
            let reports = await vanished.wait(for: 1)
            #expect(reports.map(\.name) == [name])
            let latency = (reports.first?.at ?? .max) &- closed
            #expect(latency < 1_000_000_000)
            print("DBusKit name-vanished notification after close: \(Double(latency) / 1e6) ms")

            // A name already gone is reported at once; the handler runs once only.
            let gone = Inbox<String>()
            let late = try await test.service.watchNameVanished(name) { gone.append($0) }
            #expect(await gone.wait(for: 1) == [name])
            late.cancel()

            // A cancelled watch reports nothing.
            let other = try DBusConnection(.address(test.bus.address))
            let silent = Inbox<String>()
            let cancelled = try await test.service.watchNameVanished(other.uniqueName) { silent.append($0) }
            cancelled.cancel()
            other.close()
            try await Task.sleep(for: .milliseconds(100))
            #expect(silent.values.isEmpty)
        }
    }

    @Test func lostBusIsReported() async throws {
        let bus = try PrivateBus()
        let connection = try DBusConnection(.address(bus.address))
        let lost = Inbox<Bool>()
        connection.setDisconnectHandler { lost.append(true) }
        bus.stop()
        #expect(await lost.wait(for: 1) == [true])
        #expect(!connection.isConnected)
        let error = await dbusError {
            try await connection.call(destination: "org.freedesktop.DBus", path: "/org/freedesktop/DBus",
                                      interface: "org.freedesktop.DBus", member: "GetId")
        }
        #expect(error?.name == DBusError.Name.disconnected)
        connection.close()
    }
}
