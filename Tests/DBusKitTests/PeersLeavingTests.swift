import TestingSupport
import DBusKit
import Foundation
import Testing

/// Following peers that leave the bus: any number with one subscription, and never on a
/// departure a peer forged.
@Suite struct PeersLeavingTests {
    @Test("watchUniqueNamesVanished reports each peer that leaves, and nothing else")
    func everyPeerLeavingIsReported() async throws {
        try await withTestService { test in
            let gone = Inbox<String>()
            let watch = try await test.service.watchUniqueNamesVanished { gone.append($0) }
            defer { watch.cancel() }

            let peers = try (0..<5).map { _ in try DBusConnection(.address(test.bus.address)) }
            let named = try DBusConnection(.address(test.bus.address))
            defer { named.close() }
            // A well-known name changing hands is no departure.
            try await named.requestName("org.dbuskit.Leaving")
            try await named.releaseName("org.dbuskit.Leaving")
            for peer in peers { peer.close() }
            #expect(Set(await gone.wait(for: peers.count)) == Set(peers.map(\.uniqueName)))
            try await Task.sleep(for: .milliseconds(100))
            #expect(gone.values.count == peers.count)

            named.close()
            #expect(await gone.wait(for: peers.count + 1).last == named.uniqueName)
        }
    }

    @Test("a NameOwnerChanged that a peer sends straight to the connection is not taken for the bus's")
    func forgedDeparturesAreIgnored() async throws {
        try await withTestService { test in
            let victim = try DBusConnection(.address(test.bus.address))
            defer { victim.close() }
            let anyone = Inbox<String>(), one = Inbox<String>()
            let watchAll = try await test.service.watchUniqueNamesVanished { anyone.append($0) }
            let watchOne = try await test.service.watchNameVanished(victim.uniqueName) { one.append($0) }
            defer {
                watchAll.cancel()
                watchOne.cancel()
            }

            // The bus delivers a signal with a destination whatever the match rules say.
            try test.client.emitSignal(
                path: "/org/freedesktop/DBus", interface: "org.freedesktop.DBus", member: "NameOwnerChanged",
                arguments: [.string(victim.uniqueName), .string(victim.uniqueName), .string("")],
                destination: test.service.uniqueName)
            // A round trip behind it: the forged signal has been dispatched by the time it returns.
            _ = try await test.client.call(destination: test.service.uniqueName, path: "/", interface: "org.freedesktop.DBus.Peer",
                                           member: "Ping")
            try await Task.sleep(for: .milliseconds(100))
            #expect(anyone.values.isEmpty)
            #expect(one.values.isEmpty)

            victim.close()
            #expect(await anyone.wait(for: 1) == [victim.uniqueName])
            #expect(await one.wait(for: 1) == [victim.uniqueName])
        }
    }
}
