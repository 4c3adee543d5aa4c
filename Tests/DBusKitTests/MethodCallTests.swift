import TestingSupport
import DBusKit
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import Testing

/// Exported objects served through a real dbus-daemon to a second DBusKit connection.
@Suite struct MethodCallTests {
    @Test func nameIsAcquiredAndASecondOwnerIsRefused() async throws {
        try await withTestService { test in
            let owner = try await test.client.call(
                destination: "org.freedesktop.DBus", path: "/org/freedesktop/DBus", interface: "org.freedesktop.DBus",
                member: "GetNameOwner", arguments: [.string(TestService.busName)])
            #expect(owner == [.string(test.service.uniqueName)])
            #expect(test.service.uniqueName.hasPrefix(":"))

            let refused = await dbusError { try await test.client.requestName(TestService.busName) }
            #expect(refused?.name == DBusError.Name.addressInUse)
            #expect(refused?.message.contains(test.service.uniqueName) == true)

            // Asking again for a name one owns is fine; once released, another may take it.
            try await test.service.requestName(TestService.busName)
            try await test.service.releaseName(TestService.busName)
            try await test.client.requestName(TestService.busName)
            #expect(await dbusError { try await test.client.requestName(":1.1") }?.name == DBusError.Name.invalidArgs)
        }
    }

    @Test func nestedValuesSurviveARoundTrip() async throws {
        try await withTestService { test in
            let everything: [(String, DBusValue)] = [
                ("byte", .byte(255)), ("bool", .bool(true)), ("int16", .int16(.min)), ("uint16", .uint16(.max)),
                ("int32", .int32(.min)), ("uint32", .uint32(.max)), ("int64", .int64(.min)), ("uint64", .uint64(.max)),
                ("double", .double(-1.5e300)), ("string", .string("héllo ✓ 🎞")), ("path", .objectPath("/a/b_c/D1")),
                ("signature", .signature("a{sv}(ii)")), ("empty", .array("s", [])), ("empty-dict", .vardict([:])),
                ("structs", .array("(ias)", [
                    .structure([.int32(1), .array("s", [.string("a"), .string("b")])]),
                    .structure([.int32(-2), .array("s", [])]),
                ])),
                ("nested", .vardict(["inner": .vardict(["deep": .array("d", [.double(0.25), .double(-0)])])])),
                ("variant", .variant(.variant(.uint16(7)))),
                ("bytes", .array("y", (0...255).map { .byte(UInt8($0)) })),
                ("dict", .dictionary("u", "(sb)", [(.uint32(1), .structure([.string("x"), .bool(false)]))])),
                ("matrix", .array("ad", [.array("d", [.double(1), .double(2)]), .array("d", [])])),
            ]
            let argument = DBusValue.vardict(everything)
            let reply = try await test.call("Echo", [argument])
            #expect(reply == [argument])
            let echoed = try #require(reply.first?.vardictValue)
            #expect(echoed["uint64"] == .uint64(.max))
            #expect(echoed["string"]?.stringValue == "héllo ✓ 🎞")
            #expect(reply.first?.vardictEntries?.map(\.0) == everything.map(\.0))

            let items = DBusValue.array("(ias)", (0..<100).map { .structure([.int32(Int32($0)), .array("s", [.string("\($0)")])]) })
            let extra = DBusValue.variant(.structure([.objectPath("/"), .variant(.int64(-5))]))
            #expect(try await test.call("EchoStructs", [items, extra]) == [items, extra])

            // No interface field: the method is found by name.
            #expect(try await test.call("Echo", [.vardict([:])], interface: nil) == [.vardict([:])])
        }
    }

    @Test func fileDescriptorsPassBothWays() async throws {
        try await withTestService { test in
            // Client → service: a pipe's read end, the data already written and the writer closed.
            var ends: [Int32] = [0, 0]
            #expect(pipe(&ends) == 0)
            let text = Array("through a pipe, across the bus".utf8)
            #expect(text.withUnsafeBytes { write(ends[1], $0.baseAddress, $0.count) } == text.count)
            close(ends[1])
            let readEnd = DBusUnixFD(taking: ends[0])
            let reply = try await test.call("ReadFD", [.unixFD(readEnd)])
            #expect(reply == [.array("y", text.map(DBusValue.byte))])
            // Sending duplicated the descriptor; ours is still open and owned.
            #expect(readEnd.rawValue != nil)

            // A regular file of 1 MiB.
            let path = NSTemporaryDirectory() + "/dbuskit-fd-\(UUID().uuidString)"
            var big = [UInt8](repeating: 0, count: 1 << 20)
            for index in big.indices { big[index] = UInt8(truncatingIfNeeded: index &* 31 &+ 7) }
            try Data(big).write(to: URL(fileURLWithPath: path))
            defer { unlink(path) }
            let file = open(path, O_RDONLY | O_CLOEXEC)
            #expect(file >= 0)
            let fileReply = try await test.call("ReadFD", [.unixFD(DBusUnixFD(taking: file))], timeout: .seconds(30))
            #expect(fileReply.first?.arrayElements?.count == big.count)
            #expect(fileReply.first == .array("y", big.map(DBusValue.byte)))

            // Service → client.
            let made = try await test.call("MakeFD", [.string("from the service")])
            let descriptor = try #require(made.first?.unixFDValue?.take())
            defer { close(descriptor) }
            #expect(String(decoding: try TestService.readAll(descriptor), as: UTF8.self) == "from the service")

            // A closed descriptor is refused before anything is sent.
            let closed = DBusUnixFD(taking: dup(0))
            closed.close()
            #expect(await dbusError { try await test.call("ReadFD", [.unixFD(closed)]) }?.name == DBusError.Name.invalidArgs)
        }
    }

    @Test func errorRepliesCarryTheirNames() async throws {
        try await withTestService { test in
            let custom = await dbusError { try await test.call("Fail", [.string(TestService.customError), .string("custom message")]) }
            #expect(custom == DBusError(name: TestService.customError, message: "custom message"))

            // A name that is no valid error name must not reach libdbus (it would abort).
            let invalid = await dbusError { try await test.call("Fail", [.string("not an error name"), .string("text")]) }
            #expect(invalid?.name == DBusError.Name.failed)
            #expect(invalid?.message.contains("not an error name") == true)

            let crash = await dbusError { try await test.call("Crash") }
            #expect(crash?.name == DBusError.Name.failed)

            // A handler returning the wrong types is answered with an error, not a bad reply.
            let lie = await dbusError { try await test.call("Lie") }
            #expect(lie?.name == DBusError.Name.failed)
            #expect(lie?.message.contains("'i'") == true && lie?.message.contains("'s'") == true)
        }
    }

    @Test func unknownMembersAndBadArgumentsAreRefused() async throws {
        try await withTestService { test in
            #expect(await dbusError { try await test.call("Nope") }?.name == DBusError.Name.unknownMethod)
            #expect(await dbusError { try await test.call("Nope", interface: nil) }?.name == DBusError.Name.unknownMethod)
            #expect(await dbusError { try await test.call("Echo", interface: "org.dbuskit.Nope") }?.name == DBusError.Name.unknownInterface)
            #expect(await dbusError { try await test.call("Echo", path: "/org/dbuskit/Nowhere") }?.name == DBusError.Name.unknownObject)

            let wrongType = await dbusError { try await test.call("Echo", [.int32(1)]) }
            #expect(wrongType?.name == DBusError.Name.invalidArgs)
            #expect(wrongType?.message.contains("'a{sv}'") == true)
            #expect(wrongType?.message.contains("'i'") == true)
            #expect(await dbusError { try await test.call("Echo") }?.name == DBusError.Name.invalidArgs)
            #expect(await dbusError { try await test.call("Fail", [.string("a")]) }?.name == DBusError.Name.invalidArgs)
            #expect(await dbusError {
                try await test.call("Introspect", [.string("x")], interface: "org.freedesktop.DBus.Introspectable")
            }?.name == DBusError.Name.invalidArgs)

            // Values that cannot be sent are refused on this side.
            #expect(await dbusError { try await test.call("Echo", [.array("i", [.string("x")])]) }?.name == DBusError.Name.invalidArgs)
            #expect(await dbusError { try await test.call("Echo", [.vardict(["a": .string("nul\0inside")])]) }?.name == DBusError.Name.invalidArgs)
            #expect(await dbusError { try await test.call("Echo", [.vardict(["a": .objectPath("not/a/path")])]) }?.name == DBusError.Name.invalidArgs)
            #expect(await dbusError { try await test.call("Echo", path: "no path") }?.name == DBusError.Name.invalidArgs)
            #expect(test.client.isConnected && test.service.isConnected)
        }
    }

    @Test func propertiesAreServedWithTheirErrors() async throws {
        try await withTestService { test in
            let path = TestService.path, name = TestService.busName, interface = TestService.interfaceName
            #expect(try await test.client.getProperty(destination: name, path: path, interface: interface, name: "Count") == .uint32(0))
            test.count.withLock { $0 = 5 }
            #expect(try await test.client.getProperty(destination: name, path: path, interface: interface, name: "Count") == .uint32(5))
            let all = try await test.client.getAllProperties(destination: name, path: path, interface: interface)
            #expect(all == ["Count": .uint32(5), "Label": .string("initial"), "Constant": .string("fixed")])
            #expect(try await test.client.getAllProperties(destination: name, path: path, interface: "").count == 3)

            // Set emits PropertiesChanged with the new value.
            let changes = Inbox<DBusSignal>()
            let subscription = try await test.client.subscribe(to: DBusMatchRule(
                interface: "org.freedesktop.DBus.Properties", member: "PropertiesChanged", path: path)) { changes.append($0) }
            try await test.client.setProperty(destination: name, path: path, interface: interface, name: "Label", value: .string("renamed"))
            #expect(try await test.client.getProperty(destination: name, path: path, interface: interface, name: "Label") == .string("renamed"))
            let signal = try #require(await changes.wait(for: 1).first)
            #expect(signal.arguments == [.string(interface), .vardict(["Label": .string("renamed")]), .array("s", [])])
            subscription.cancel()

            func setError(_ property: String, _ value: DBusValue, interface: String = TestService.interfaceName) async -> DBusError? {
                await dbusError { try await test.client.setProperty(destination: name, path: path, interface: interface, name: property, value: value) }
            }
            func getError(_ property: String, interface: String = TestService.interfaceName) async -> DBusError? {
                await dbusError { try await test.client.getProperty(destination: name, path: path, interface: interface, name: property) }
            }
            #expect(await setError("Count", .uint32(1))?.name == DBusError.Name.propertyReadOnly)
            #expect(await setError("Constant", .string("x"))?.name == DBusError.Name.propertyReadOnly)
            #expect(await setError("Label", .int32(1))?.name == DBusError.Name.invalidArgs)
            #expect(await setError("Label", .string("")) == DBusError(name: TestService.customError, message: "Label cannot be empty"))
            #expect(await setError("Nope", .string("x"))?.name == DBusError.Name.unknownProperty)
            #expect(await getError("Nope")?.name == DBusError.Name.unknownProperty)
            #expect(await getError("Count", interface: "org.dbuskit.Nope")?.name == DBusError.Name.unknownInterface)
            #expect(await dbusError {
                try await test.client.getAllProperties(destination: name, path: path, interface: "org.dbuskit.Nope")
            }?.name == DBusError.Name.unknownInterface)
            #expect(await dbusError {
                try await test.call("Get", [.string(interface)], interface: "org.freedesktop.DBus.Properties")
            }?.name == DBusError.Name.invalidArgs)
            #expect(await dbusError {
                try await test.call("Frobnicate", interface: "org.freedesktop.DBus.Properties")
            }?.name == DBusError.Name.unknownMethod)
            #expect(test.label.withLock { $0 } == "renamed")
        }
    }

    @Test func introspectionReturnsTheSuppliedInterfaces() async throws {
        try await withTestService { test in
            let node = try await test.client.introspect(destination: TestService.busName, path: TestService.path)
            #expect(node.withoutStandardInterfaces.interfaces == (try DBusNodeInfo(xml: TestService.xml)).interfaces)
            #expect(Set(node.interfaces.map(\.name)).isSuperset(of: [
                "org.freedesktop.DBus.Introspectable", "org.freedesktop.DBus.Properties", "org.freedesktop.DBus.Peer",
            ]))
            #expect(node.children.map(\.name) == ["Item"])

            let raw = try await test.call("Introspect", interface: "org.freedesktop.DBus.Introspectable")
            let xml = try #require(raw.first?.stringValue)
            #expect(!xml.contains("doc:") && !xml.contains("<!--"))
            #expect(xml.hasPrefix("<!DOCTYPE node"))

            // Intermediate nodes list their children, down from the root.
            #expect(try await test.client.introspect(destination: TestService.busName, path: "/").children.map(\.name) == ["org"])
            let parent = try await test.client.introspect(destination: TestService.busName, path: "/org/dbuskit")
            #expect(parent.children.map(\.name) == ["Test"])
            #expect(parent.interface(named: "org.freedesktop.DBus.Introspectable") != nil)

            // The subtree: its root lists what the resolver has, each child is an object.
            let itemsNode = try await test.client.introspect(destination: TestService.busName, path: TestService.itemsRoot)
            #expect(itemsNode.children.map(\.name) == ["1", "2", "3"])
            let item = try await test.client.introspect(destination: TestService.busName, path: TestService.itemsRoot + "/2")
            #expect(item.interface(named: "org.dbuskit.Test.Item")?.property(named: "Number")?.type == "u")
            let itemPath = TestService.itemsRoot + "/2"
            #expect(try await test.call("Describe", interface: "org.dbuskit.Test.Item", path: itemPath) == [.objectPath(itemPath)])
            #expect(try await test.client.getProperty(
                destination: TestService.busName, path: itemPath, interface: "org.dbuskit.Test.Item", name: "Number") == .uint32(2))
            test.items.withLock { _ = $0.remove(2) }
            #expect(await dbusError { try await test.call("Describe", interface: "org.dbuskit.Test.Item", path: itemPath) }?.name
                == DBusError.Name.unknownObject)
            #expect(await dbusError { try await test.call("Describe", interface: "org.dbuskit.Test.Item", path: TestService.itemsRoot + "/9") }?.name
                == DBusError.Name.unknownObject)

            // org.freedesktop.DBus.Peer, answered by libdbus for every object.
            #expect(try await test.call("Ping", interface: "org.freedesktop.DBus.Peer").isEmpty)
            let machine = try await test.call("GetMachineId", interface: "org.freedesktop.DBus.Peer")
            #expect(machine.first?.stringValue?.count == 32)
        }
    }

    @Test func noReplyCallsAreServedWithoutAnswer() async throws {
        try await withTestService { test in
            try test.client.send(destination: TestService.busName, path: TestService.path, interface: TestService.interfaceName,
                                 member: "Fail", arguments: [.string(TestService.customError), .string("unheard")])
            // The service stays healthy and answers the next call in order.
            #expect(try await test.call("Sender") == [.string(test.client.uniqueName)])
        }
    }

    @Test func blockingCallsWorkFromPlainThreads() async throws {
        try await withTestService { test in
            let client = test.client
            let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<[DBusValue], any Error>, Never>) in
                Thread.detachNewThread {
                    continuation.resume(returning: Result { () throws -> [DBusValue] in
                        try client.callBlocking(destination: TestService.busName, path: TestService.path,
                                                interface: TestService.interfaceName, member: "Echo", arguments: [.vardict(["k": .bool(true)])])
                    })
                }
            }
            let values = try result.get()
            #expect(values == [.vardict(["k": .bool(true)])])
        }
    }
}
