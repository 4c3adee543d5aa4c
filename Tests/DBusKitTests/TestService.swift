import TestingSupport
import DBusKit
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// A service exported through DBusKit on its own connection, with a client connection beside
/// it, on a private bus: the real components the tests exercise.
final class TestService: Sendable {
    static let busName = "org.dbuskit.Test"
    static let path = "/org/dbuskit/Test"
    static let itemsRoot = "/org/dbuskit/Test/Item"
    static let interfaceName = "org.dbuskit.Test"
    static let customError = "org.dbuskit.Test.Error.Custom"

    static let xml = """
        <!DOCTYPE node PUBLIC "-//freedesktop//DTD D-BUS Object Introspection 1.0//EN"
         "http://www.freedesktop.org/standards/dbus/1.0/introspect.dtd">
        <node xmlns:doc="http://www.freedesktop.org/dbus/1.0/doc.dtd">
          <!-- A test interface covering every kind of member. -->
          <interface name="org.dbuskit.Test">
            <doc:doc><doc:description><doc:para>Echoes, files, failures.</doc:para></doc:description></doc:doc>
            <method name="Echo">
              <arg name="values" type="a{sv}" direction="in"/>
              <arg name="echoed" type="a{sv}" direction="out"/>
            </method>
            <method name="EchoStructs">
              <arg name="items" type="a(ias)" direction="in"/>
              <arg name="extra" type="v" direction="in"/>
              <arg name="items" type="a(ias)" direction="out"/>
              <arg name="extra" type="v" direction="out"/>
            </method>
            <method name="ReadFD">
              <arg name="fd" type="h" direction="in"><doc:doc><doc:summary>A readable descriptor.</doc:summary></doc:doc></arg>
              <arg name="data" type="ay" direction="out"/>
              <annotation name="org.gtk.GDBus.C.UnixFD" value="true"/>
            </method>
            <method name="MakeFD">
              <arg name="text" type="s" direction="in"/>
              <arg name="fd" type="h" direction="out"/>
            </method>
            <method name="Fail">
              <arg name="name" type="s" direction="in"/>
              <arg name="message" type="s" direction="in"/>
            </method>
            <method name="Crash"/>
            <method name="Lie"><arg name="text" type="s" direction="out"/></method>
            <method name="Slow">
              <arg name="milliseconds" type="u" direction="in"/>
              <arg name="milliseconds" type="u" direction="out"/>
            </method>
            <method name="AsyncDouble">
              <arg name="value" type="d" direction="in"/>
              <arg name="doubled" type="d" direction="out"/>
            </method>
            <method name="Forget"/>
            <method name="Wait"><arg name="released" type="u" direction="out"/></method>
            <method name="Release"><arg name="waiters" type="u" direction="out"/></method>
            <method name="Sender"><arg name="name" type="s" direction="out"/></method>
            <signal name="Tick">
              <arg name="n" type="u"/>
              <arg name="sent_ns" type="t"/>
            </signal>
            <property name="Count" type="u" access="read"/>
            <property name="Label" type="s" access="readwrite"/>
            <property name="Constant" type="s" access="read">
              <annotation name="org.freedesktop.DBus.Property.EmitsChangedSignal" value="const"/>
            </property>
          </interface>
        </node>
        """

    static let itemXML = """
        <node>
          <interface name="org.dbuskit.Test.Item">
            <method name="Describe"><arg name="path" type="o" direction="out"/></method>
            <property name="Number" type="u" access="read"/>
          </interface>
        </node>
        """

    let bus: PrivateBus
    let service: DBusConnection
    let client: DBusConnection
    let count = Shared<UInt32>(0)
    let label = Shared<String>("initial")
    /// Item numbers that exist under itemsRoot.
    let items = Shared<Set<UInt32>>([1, 2, 3])
    /// Replies held back by Wait until Release.
    let waiters = Shared<[DBusDeferredReply]>([])

    init() throws {
        bus = try PrivateBus()
        service = try DBusConnection(.address(bus.address))
        client = try DBusConnection(.address(bus.address))
    }

    /// Starts serving: owns the name, exports the object and the item subtree.
    static func start() async throws -> TestService {
        let test = try TestService()
        try await test.serve()
        return test
    }

    func stop() {
        service.close()
        client.close()
        bus.stop()
    }

    private func serve() async throws {
        guard let info = try DBusNodeInfo(xml: Self.xml).interface(named: Self.interfaceName) else {
            throw PrivateBus.Failure(description: "test XML lacks its interface")
        }
        let count = self.count, label = self.label, waiters = self.waiters
        let interface = try DBusInterfaceImplementation(info, methods: [
            "Echo": .immediate { call in [call.arguments[0]] },
            "EchoStructs": .immediate { call in call.arguments },
            "ReadFD": .immediate { call in
                guard let fd = call.arguments[0].unixFDValue?.take() else { throw DBusError(name: Self.customError, message: "no fd") }
                defer { close(fd) }
                return [.array("y", try Self.readAll(fd).map(DBusValue.byte))]
            },
            "MakeFD": .immediate { call in
                var ends: [Int32] = [0, 0]
                guard pipe(&ends) == 0 else { throw DBusError(name: Self.customError, message: "pipe failed") }
                let bytes = Array((call.arguments[0].stringValue ?? "").utf8)
                _ = bytes.withUnsafeBytes { write(ends[1], $0.baseAddress, $0.count) }
                close(ends[1])
                return [.unixFD(DBusUnixFD(taking: ends[0]))]
            },
            "Fail": .immediate { call in
                throw DBusError(name: call.arguments[0].stringValue ?? "", message: call.arguments[1].stringValue ?? "")
            },
            "Crash": .immediate { _ in throw CocoaError(.fileNoSuchFile) },
            "Lie": .immediate { _ in [.int32(42)] },
            "Slow": .deferred { call, reply in
                let milliseconds = call.arguments[0].uint32Value ?? 0
                DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(Int(milliseconds))) {
                    reply.send([.uint32(milliseconds)])
                }
            },
            "AsyncDouble": .async { call in
                try await Task.sleep(for: .milliseconds(20))
                return [.double((call.arguments[0].doubleValue ?? 0) * 2)]
            },
            "Forget": .deferred { _, _ in },
            // Wait answers only when Release is called: a reply deferred for as long as the test wants.
            "Wait": .deferred { _, reply in waiters.withLock { $0.append(reply) } },
            "Release": .immediate { _ in
                let released = waiters.withLock { list in
                    defer { list.removeAll() }
                    return list
                }
                for reply in released { reply.send([.uint32(UInt32(released.count))]) }
                return [.uint32(UInt32(released.count))]
            },
            "Sender": .immediate { call in [.string(call.sender ?? "")] },
        ], properties: [
            "Count": DBusPropertyImplementation(get: { .uint32(count.withLock { $0 }) }),
            "Label": DBusPropertyImplementation(
                get: { .string(label.withLock { $0 }) },
                set: { value in
                    guard let text = value.stringValue, !text.isEmpty else {
                        throw DBusError(name: Self.customError, message: "Label cannot be empty")
                    }
                    label.withLock { $0 = text }
                }),
            "Constant": .constant(.string("fixed")),
        ])
        try service.export(DBusObject(interfaces: [interface]), at: Self.path)

        guard let itemInfo = try DBusNodeInfo(xml: Self.itemXML).interfaces.first else {
            throw PrivateBus.Failure(description: "item XML lacks its interface")
        }
        let items = self.items
        try service.exportSubtree(DBusSubtree(
            resolve: { path in
                guard path.hasPrefix(Self.itemsRoot + "/"), let number = UInt32(path.dropFirst(Self.itemsRoot.count + 1)),
                      items.withLock({ $0.contains(number) }) else { return nil }
                return try? DBusObject(interfaces: [DBusInterfaceImplementation(itemInfo, methods: [
                    "Describe": .immediate { call in [.objectPath(call.path)] },
                ], properties: ["Number": .constant(.uint32(number))])])
            },
            children: { path in
                path == Self.itemsRoot ? items.withLock { $0.sorted().map { String($0) } } : []
            }), at: Self.itemsRoot)
        try await service.requestName(Self.busName)
    }

    /// A call from the client to the test object.
    func call(_ member: String, _ arguments: [DBusValue] = [], interface: String? = TestService.interfaceName,
              path: String = TestService.path, timeout: Duration = .seconds(10)) async throws -> [DBusValue] {
        try await client.call(destination: Self.busName, path: path, interface: interface, member: member,
                              arguments: arguments, timeout: timeout)
    }

    static func readAll(_ fd: Int32) throws -> [UInt8] {
        var result: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else { throw DBusError(name: customError, message: "read failed") }
            if count == 0 { return result }
            result += buffer[0..<count]
        }
    }
}

/// Runs `body` with a started test service, stopping it afterwards.
func withTestService<R>(_ body: (TestService) async throws -> R) async throws -> R {
    let test = try await TestService.start()
    defer { test.stop() }
    return try await body(test)
}

/// The error a throwing expression produced, as a DBusError (nil if it succeeded or threw
/// something else).
func dbusError(_ body: () async throws -> some Any) async -> DBusError? {
    do {
        _ = try await body()
        return nil
    } catch let error as DBusError {
        return error
    } catch {
        return nil
    }
}

/// A value behind a lock, shareable by reference with handlers on other threads.
final class Shared<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<R>(_ body: (inout sending Value) throws -> sending R) rethrows -> sending R {
        try mutex.withLock(body)
    }
}

/// Collects values delivered on another thread and lets a test wait for a number of them.
final class Inbox<Value: Sendable>: Sendable {
    private let state = Mutex<[Value]>([])

    func append(_ value: Value) { state.withLock { $0.append(value) } }
    var values: [Value] { state.withLock { $0 } }

    /// Waits until at least `count` values arrived or `timeout` passed; returns them.
    func wait(for count: Int, timeout: Duration = .seconds(5)) async -> [Value] {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while clock.now < deadline {
            let current = values
            if current.count >= count { return current }
            try? await Task.sleep(for: .milliseconds(2))
        }
        return values
    }
}
