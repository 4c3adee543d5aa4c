import DBusKit
import Foundation
import Testing
import TestingSupport

/// Bad input from clients must cost the service nothing: every malformed call gets an error
/// reply and the next good call is answered.
@Suite struct RobustnessTests {
    /// A random value of any type, up to `depth` containers deep.
    static func randomValue(_ random: inout TestRandom, depth: Int) -> DBusValue {
        let kind = Int(random.next() % (depth > 0 ? 17 : 12))
        switch kind {
        case 0: return .byte(UInt8(truncatingIfNeeded: random.next()))
        case 1: return .bool(random.next() & 1 == 0)
        case 2: return .int16(Int16(truncatingIfNeeded: random.next()))
        case 3: return .uint16(UInt16(truncatingIfNeeded: random.next()))
        case 4: return .int32(Int32(truncatingIfNeeded: random.next()))
        case 5: return .uint32(UInt32(truncatingIfNeeded: random.next()))
        case 6: return .int64(Int64(bitPattern: random.next()))
        case 7: return .uint64(random.next())
        case 8: return .double(Double(bitPattern: random.next()))
        case 9: return .string(String(repeating: "ä", count: Int(random.next() % 40)))
        case 10: return .objectPath(["/", "/a", "/org/x_y/Z9"][Int(random.next() % 3)])
        case 11: return .signature(["", "a{sv}", "(ii)as", "v"][Int(random.next() % 4)])
        case 12:
            let element = randomValue(&random, depth: depth - 1)
            let count = Int(random.next() % 4)
            // Same-typed elements: repeat the first one's type by regenerating until it matches.
            var items = [element]
            while items.count < count {
                let next = randomValue(&random, depth: depth - 1)
                if next.signature == element.signature { items.append(next) } else { items.append(element) }
            }
            return .array(element.signature, items)
        case 13:
            let entries = (0..<Int(random.next() % 4)).map { ("k\($0)", randomValue(&random, depth: depth - 1)) }
            return .vardict(entries)
        case 14: return .structure((0...Int(random.next() % 3)).map { _ in randomValue(&random, depth: depth - 1) })
        case 15: return .variant(randomValue(&random, depth: depth - 1))
        default: return .array("(ias)", [])
        }
    }

    @Test func malformedCallsLeaveTheServiceAnswering() async throws {
        try await withTestService { test in
            var random = TestRandom(seed: 0xDB05)
            var calls: [(member: String, interface: String?, path: String, arguments: [DBusValue])] = []
            let testInterface = TestService.interfaceName, properties = "org.freedesktop.DBus.Properties"
            for index in 0..<200 {
                let values = (0..<Int(random.next() % 4)).map { _ in Self.randomValue(&random, depth: 4) }
                switch index % 10 {
                case 0: calls.append(("Echo", testInterface, TestService.path, [.int32(0)] + values))
                case 1: calls.append(("Nope\(index)", testInterface, TestService.path, values))
                case 2: calls.append(("Get", properties, TestService.path, values))
                case 3: calls.append(("Set", properties, TestService.path, [.string(testInterface), .string("Label"), .variant(.int32(1))]))
                case 4: calls.append(("Echo", "org.dbuskit.Nope\(index)", TestService.path, values))
                case 5: calls.append(("Fail", testInterface, TestService.path, [.string("only one")]))
                case 6: calls.append(("Introspect", "org.freedesktop.DBus.Introspectable", TestService.path, [.vardict([:])]))
                case 7: calls.append(("Describe", "org.dbuskit.Test.Item", TestService.itemsRoot + "/\(random.next() % 1000 + 10)", values))
                case 8: calls.append(("ReadFD", testInterface, TestService.path, [.string("not a descriptor")]))
                default: calls.append(("GetAll", properties, TestService.path, [.uint32(7)] + values))
                }
            }
            let errors = try await withThrowingTaskGroup(of: String.self) { group in
                var names: [String: Int] = [:]
                var next = 0
                func add() {
                    let call = calls[next]
                    next += 1
                    group.addTask {
                        do {
                            _ = try await test.call(call.member, call.arguments, interface: call.interface, path: call.path)
                            return "success"
                        } catch let error as DBusError {
                            return error.name
                        }
                    }
                }
                for _ in 0..<16 { add() }
                while let name = try await group.next() {
                    names[name, default: 0] += 1
                    if next < calls.count { add() }
                }
                return names
            }
            print("DBusKit: 200 malformed calls answered with \(errors.sorted { $0.key < $1.key })")
            #expect(errors.values.reduce(0, +) == 200)
            // Every one got a proper refusal: none hung (NoReply), none broke the connection.
            #expect(errors["success"] == nil)
            #expect(errors[DBusError.Name.noReply] == nil && errors[DBusError.Name.disconnected] == nil)
            #expect(Set(errors.keys).isSubset(of: [
                DBusError.Name.invalidArgs, DBusError.Name.unknownMethod, DBusError.Name.unknownInterface,
                DBusError.Name.unknownObject, DBusError.Name.unknownProperty,
            ]))

            // Raw calls from a client nobody here wrote.
            var refusedBySend = 0
            for arguments in [["int32:5"], ["string:x", "uint64:1"], ["array:int32:1,2"], ["objpath:/x"], ["boolean:true"]] {
                let result = try test.bus.run("/usr/bin/dbus-send", [
                    "--session", "--print-reply", "--reply-timeout=5000", "--dest=\(TestService.busName)", TestService.path,
                    "\(TestService.interfaceName).Echo",
                ] + arguments)
                if result.status != 0 && result.stderr.contains(DBusError.Name.invalidArgs) { refusedBySend += 1 }
            }
            #expect(refusedBySend == 5)

            // Values nested deeper than D-Bus allows are refused locally, the connection intact.
            var deep = DBusValue.int32(1)
            for _ in 0..<70 { deep = .variant(deep) }
            #expect(await dbusError { try await test.call("Echo", [.vardict(["deep": deep])]) }?.name == DBusError.Name.invalidArgs)
            var allowed = DBusValue.int32(1)
            for _ in 0..<30 { allowed = .variant(allowed) }
            #expect(try await test.call("Echo", [.vardict(["deep": allowed])]) == [.vardict(["deep": allowed])])

            #expect(test.service.isConnected && test.client.isConnected)
            #expect(try await test.call("Echo", [.vardict(["still": .string("here")])]) == [.vardict(["still": .string("here")])])
        }
    }

    @Test func randomValuesRoundTripUnchanged() async throws {
        try await withTestService { test in
            var random = TestRandom(seed: 7)
            for _ in 0..<60 {
                let entries = (0..<Int(random.next() % 6)).map { ("k\($0)", Self.randomValue(&random, depth: 5)) }
                let value = DBusValue.vardict(entries)
                let reply = try await test.call("Echo", [value])
                // NaN payloads are not equal to themselves; compare through the signature and text then.
                if reply != [value] {
                    #expect(reply.first?.signature == value.signature)
                    #expect(reply.first?.description == value.description)
                }
            }
        }
    }
}
