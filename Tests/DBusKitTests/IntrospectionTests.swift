import TestingSupport
import DBusKit
import Foundation
import Testing

/// The introspection model, its XML reader and writer, and the daemon's interface file.
@Suite struct IntrospectionTests {
    static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let animatorFile = repositoryRoot.appendingPathComponent("dbus/org.dynamicrafter.Animator1.xml").path

    @Test func parsingSkipsDocumentationAndKeepsEverythingElse() throws {
        let node = try DBusNodeInfo(xml: TestService.xml)
        let interface = try #require(node.interface(named: TestService.interfaceName))
        #expect(node.interfaces.count == 1)
        #expect(interface.methods.map(\.name) == [
            "Echo", "EchoStructs", "ReadFD", "MakeFD", "Fail", "Crash", "Lie", "Slow", "AsyncDouble", "Forget", "Wait", "Release",
            "Sender",
        ])
        let echoStructs = try #require(interface.method(named: "EchoStructs"))
        #expect(echoStructs.inputSignature == "a(ias)v" && echoStructs.outputSignature == "a(ias)v")
        let readFD = try #require(interface.method(named: "ReadFD"))
        #expect(readFD.annotations == [DBusAnnotationInfo(name: "org.gtk.GDBus.C.UnixFD", value: "true")])
        #expect(readFD.arguments.first == DBusArgumentInfo(name: "fd", type: "h", direction: .in))
        #expect(interface.signal(named: "Tick")?.arguments.map(\.direction) == [.out, .out])
        #expect(interface.signal(named: "Tick")?.signature == "ut")
        #expect(interface.property(named: "Label")?.access == .readwrite)
        #expect(interface.property(named: "Constant")?.emitsChangedSignal == "const")
        #expect(interface.property(named: "Count")?.emitsChangedSignal == "true")
    }

    @Test func writtenXMLParsesBackToTheSameModel() throws {
        let node = try DBusNodeInfo(xml: TestService.xml)
        let stripped = try DBusNodeInfo.strippingDocumentation(fromXML: TestService.xml)
        #expect(!stripped.contains("doc:") && !stripped.contains("<!--") && !stripped.contains("Echoes, files"))
        #expect(try DBusNodeInfo(xml: stripped) == node)
        // With children, escaping and annotations everywhere.
        let tricky = DBusNodeInfo(interfaces: [DBusInterfaceInfo(
            name: "org.x.Y",
            methods: [DBusMethodInfo(name: "M", arguments: [DBusArgumentInfo(
                name: "a", type: "s", direction: .in, annotations: [.init(name: "org.x.Note", value: "<&\"'>")])])],
            properties: [DBusPropertyInfo(name: "P", type: "a{sv}", access: .write)],
            annotations: [.init(name: "org.freedesktop.DBus.Deprecated", value: "true")])],
            children: [DBusNodeInfo(name: "child"), DBusNodeInfo(name: "other")])
        #expect(try DBusNodeInfo(xml: tricky.xml()) == tricky)
    }

    @Test func malformedIntrospectionIsRefused() {
        let bad = [
            "not xml at all",
            "<node><interface name=\"org.x.Y\"><method name=\"M\"><arg type=\"z\"/></method></interface></node>",
            "<node><interface name=\"org.x.Y\"><property name=\"P\" type=\"s\"/></interface></node>",
            "<node><interface name=\"nodots\"/></node>",
            "<node><interface name=\"org.x.Y\"><method name=\"M\"><arg type=\"s\" direction=\"sideways\"/></method></interface></node>",
            "<node><interface name=\"org.x.Y\"><signal name=\"S\"><arg type=\"s\" direction=\"in\"/></signal></interface></node>",
            "<node><interface name=\"org.x.Y\"><method name=\"M\"></interface></node>",
            "<node><method name=\"M\"/></node>",
            "<interface name=\"org.x.Y\"/>",
        ]
        for xml in bad {
            #expect(throws: DBusError.self, "\(xml)") { try DBusNodeInfo(xml: xml) }
        }
    }

    // MARK: - dbus/org.dynamicrafter.Animator1.xml

    @Test func animatorInterfaceFileDeclaresVersionOne() throws {
        let node = try DBusNodeInfo(contentsOfFile: Self.animatorFile)
        #expect(node.interfaces.map(\.name) == ["org.dynamicrafter.Animator1", "org.dynamicrafter.Animator1.Job"])

        let manager = try #require(node.interface(named: "org.dynamicrafter.Animator1"))
        func method(_ interface: DBusInterfaceInfo, _ name: String) -> (String, String, [String?])? {
            interface.method(named: name).map { ($0.inputSignature, $0.outputSignature, $0.arguments.map(\.name)) }
        }
        #expect(manager.methods.map(\.name) == ["Animate", "GetModels", "LoadModel", "UnloadModel"])
        #expect(method(manager, "Animate")! == ("ha{sv}", "o", ["image", "options", "job"]))
        #expect(method(manager, "GetModels")! == ("", "a(sa{sv})", ["models"]))
        #expect(method(manager, "LoadModel")! == ("s", "", ["name"]))
        #expect(method(manager, "UnloadModel")! == ("", "", []))
        #expect(manager.properties.map { "\($0.name) \($0.type) \($0.access.rawValue) \($0.emitsChangedSignal)" } == [
            "Version s read const", "LoadedModel s read true", "State s read true", "QueueLength u read true", "Backend s read const",
            "Precision s read const",
        ])
        #expect(manager.signals.isEmpty)

        let job = try #require(node.interface(named: "org.dynamicrafter.Animator1.Job"))
        #expect(job.methods.map(\.name) == ["Cancel", "TakeFrames"])
        #expect(method(job, "Cancel")! == ("", "", []))
        #expect(method(job, "TakeFrames")! == ("", "ha{sv}", ["frames", "info"]))
        #expect(job.signals.map(\.name) == ["Completed"])
        #expect(job.signal(named: "Completed")?.arguments.map { "\($0.name ?? "") \($0.type)" } == ["success b", "error_name s", "message s"])
        #expect(job.properties.map { "\($0.name) \($0.type) \($0.access.rawValue) \($0.emitsChangedSignal)" } == [
            "State s read true", "Stage s read true", "Progress d read true", "Step u read true",
            "TotalSteps u read true", "RemainingSeconds d read true",
        ])
        for fdMethod in [manager.method(named: "Animate"), job.method(named: "TakeFrames")] {
            #expect(fdMethod?.annotations.contains(DBusAnnotationInfo(name: "org.gtk.GDBus.C.UnixFD", value: "true")) == true)
        }
    }

    @Test func animatorInterfaceFileDocumentsEveryOptionAndError() throws {
        let text = try String(contentsOfFile: Self.animatorFile, encoding: .utf8)
        let errors = ["InvalidArgument", "InvalidImage", "ModelNotFound", "ModelLoadFailed", "Busy", "Cancelled", "ShuttingDown", "Internal"]
        for error in errors {
            #expect(text.contains("<doc:term>org.dynamicrafter.Animator1.Error.\(error)</doc:term>"), "error \(error)")
        }
        let options = [
            "model (s)", "prompt (s)", "frames (u)", "steps (u)", "cfg-scale (d)", "image-cfg-scale (d)", "eta (d)", "sampler (s)", "cache-interval (u)", "seed (t)",
            "frame-stride (u) or fps (u)", "mode (s)", "end-image (h)", "format (s), width (u), height (u), stride (u)",
            "output (h)", "output-format (s)",
        ]
        for option in options {
            #expect(text.contains("<doc:term>\(option)</doc:term>"), "option \(option)")
        }
        // Every member carries documentation.
        let node = try DBusNodeInfo(contentsOfFile: Self.animatorFile)
        for interface in node.interfaces {
            for name in interface.methods.map(\.name) + interface.signals.map(\.name) + interface.properties.map(\.name) {
                let pattern = "name=\"\(name)\""
                guard let range = text.range(of: pattern) else {
                    Issue.record("\(name) not found")
                    continue
                }
                let following = text[range.upperBound...].prefix(400)
                #expect(following.contains("<doc:doc>"), "\(interface.name).\(name) is undocumented")
            }
        }
    }

    static let codegen = "/usr/bin/gdbus-codegen"

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: IntrospectionTests.codegen),
                   "needs gdbus-codegen (Debian package libglib2.0-dev-bin)"))
    func animatorInterfaceFileIsAcceptedByGDBusCodegen() throws {
        let output = NSTemporaryDirectory() + "/dbuskit-codegen-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: output) }
        let result = try Command(Self.codegen, ["--interface-prefix", "org.dynamicrafter.", "--generate-c-code", output + "/animator",
                                                "--generate-docbook", output + "/doc", Self.animatorFile]).run()
        #expect(result.status == 0, "\(result)")
        let header = try String(contentsOfFile: output + "/animator.h", encoding: .utf8)
        #expect(header.contains("animator1_call_animate") && header.contains("animator1_job_call_take_frames"))
    }

    /// What the daemon will do: serve the file's interfaces with the documentation stripped;
    /// introspected by GDBus's own client, it must equal the file.
    @Test func servedAnimatorInterfacesIntrospectLikeTheFile() async throws {
        let node = try DBusNodeInfo(contentsOfFile: Self.animatorFile)
        let manager = try #require(node.interface(named: "org.dynamicrafter.Animator1"))
        let job = try #require(node.interface(named: "org.dynamicrafter.Animator1.Job"))
        let bus = try PrivateBus()
        defer { bus.stop() }
        let service = try DBusConnection(.address(bus.address))
        defer { service.close() }
        func stubs(_ interface: DBusInterfaceInfo) throws -> DBusInterfaceImplementation {
            try DBusInterfaceImplementation(
                interface,
                methods: Dictionary(uniqueKeysWithValues: interface.methods.map { method in
                    (method.name, DBusMethodImplementation.immediate { _ in
                        throw DBusError(name: "org.dynamicrafter.Animator1.Error.Internal", message: "stub")
                    })
                }),
                properties: Dictionary(uniqueKeysWithValues: interface.properties.map { property in
                    (property.name, DBusPropertyImplementation.constant(property.type == "s" ? .string("") : property.type == "u" ? .uint32(0) : .double(0)))
                }))
        }
        try service.export(DBusObject(interfaces: [stubs(manager)]), at: "/org/dynamicrafter/Animator1")
        let jobObject = try DBusObject(interfaces: [stubs(job)])
        try service.exportSubtree(DBusSubtree(resolve: { $0 == "/org/dynamicrafter/Animator1/Job/1" ? jobObject : nil },
                                              children: { $0 == "/org/dynamicrafter/Animator1/Job" ? ["1"] : [] }),
                                  at: "/org/dynamicrafter/Animator1/Job")
        try await service.requestName("org.dynamicrafter.Animator1")

        let gdbus = "/usr/bin/gdbus"
        var introspected: [DBusInterfaceInfo] = []
        for path in ["/org/dynamicrafter/Animator1", "/org/dynamicrafter/Animator1/Job/1"] {
            if FileManager.default.isExecutableFile(atPath: gdbus) {
                let result = try bus.run(gdbus, ["introspect", "--session", "--dest", "org.dynamicrafter.Animator1",
                                                 "--object-path", path, "--xml"])
                #expect(result.status == 0, "\(result.stderr)")
                introspected += try DBusNodeInfo(xml: result.stdout).withoutStandardInterfaces.interfaces
            } else {
                let client = try DBusConnection(.address(bus.address))
                defer { client.close() }
                introspected += try await client.introspect(destination: "org.dynamicrafter.Animator1", path: path)
                    .withoutStandardInterfaces.interfaces
            }
        }
        #expect(introspected == node.interfaces)

        // The stripped file is exactly what the model writes, and parses back equal.
        let stripped = try DBusNodeInfo.strippingDocumentation(fromXML: String(contentsOfFile: Self.animatorFile, encoding: .utf8))
        #expect(try DBusNodeInfo(xml: stripped) == node)
        #expect(stripped.count < (try String(contentsOfFile: Self.animatorFile, encoding: .utf8)).count / 3)
    }
}
