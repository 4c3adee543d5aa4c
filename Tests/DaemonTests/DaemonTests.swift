import TestingSupport
import DBusKit
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The daemon as clients see it: a private dbus-daemon per test activates the real
/// `dynamicrafterd` (built optimised) with the demo model. One test at a time: each starts a
/// daemon that uses every core.
@Suite("dynamicrafterd over D-Bus", .serialized)
struct DaemonTests {
    static let documentedXML = Executables.packageRoot.appendingPathComponent("dbus/org.dynamicrafter.Animator1.xml").path

    @Test("D-Bus activation starts the daemon; its introspection equals the documented XML")
    func activationAndIntrospection() async throws {
        try await DaemonBus.with { bus, connection in
            // The first call starts the daemon through the bus's service directory.
            let models = try await connection.manager("GetModels")
            let list = try #require(models.first?.arrayElements)
            #expect(list.count == 1)
            let fields = try #require(list.first?.structureFields)
            #expect(fields.first?.stringValue == "demo")
            let facts = try #require(fields.last?.vardictValue)
            #expect(facts["width"] == .uint32(64) && facts["height"] == .uint32(64))
            #expect(facts["frames"] == .uint32(16))
            #expect(facts["mode"] == .string("animate"))
            #expect(facts["preset"] == .string(""))
            #expect(facts["default"] == .bool(true))
            #expect(facts["loaded"] == .bool(false))
            #expect(facts["path"]?.stringValue?.hasSuffix("demo/model.safetensors") == true)
            #expect((facts["size"]?.uint64Value ?? 0) > 1_000_000)
            // Written by `demo-model`, not installed by `dynamicrafter models`: not vouched for.
            #expect(facts["verified"] == .bool(false))
            #expect(facts["dtype"] == .string("F16"))

            let documented = try DBusNodeInfo(contentsOfFile: Self.documentedXML)
            let manager = try await connection.introspect(destination: DaemonBus.busName, path: DaemonBus.managerPath)
            #expect(manager.withoutStandardInterfaces.interfaces == [try #require(documented.interface(named: DaemonBus.managerInterface))])
            #expect(manager.children.map(\.name) == ["Job"])

            let job = try await connection.animate(imagePath: try Fixtures.png(width: 64, height: 64), quickJob(steps: 1))
            let jobNode = try await connection.introspect(destination: DaemonBus.busName, path: job)
            #expect(jobNode.withoutStandardInterfaces.interfaces == [try #require(documented.interface(named: DaemonBus.jobInterface))])
            // Both objects together serve exactly what the file documents, in its order.
            #expect(manager.withoutStandardInterfaces.interfaces + jobNode.withoutStandardInterfaces.interfaces == documented.interfaces)
            let root = try await connection.introspect(destination: DaemonBus.busName, path: DaemonBus.jobRoot)
            #expect(root.children.compactMap(\.name) == [String(job.split(separator: "/").last ?? "")])

            // Clients nobody here wrote agree: gdbus's XML and busctl's property reads.
            let gdbus = try bus.bus.run("/usr/bin/gdbus", ["introspect", "--session", "--dest", DaemonBus.busName,
                                                           "--object-path", DaemonBus.managerPath, "--xml"])
            #expect(gdbus.status == 0, "\(gdbus.stderr)")
            let viaGDBus = try DBusNodeInfo(xml: gdbus.stdout)
            #expect(viaGDBus.withoutStandardInterfaces.interfaces == manager.withoutStandardInterfaces.interfaces)
            let busctl = try bus.bus.run("/usr/bin/busctl", ["--address=\(bus.bus.address)", "get-property", DaemonBus.busName,
                                                             DaemonBus.managerPath, DaemonBus.managerInterface,
                                                             "Version", "Backend", "QueueLength"])
            #expect(busctl.status == 0, "\(busctl.stderr)")
            let lines = busctl.stdout.split(separator: "\n").map(String.init)
            #expect(lines.first == "s \"0.1.0\"")
            #expect(lines.count == 3 && ["s \"onednn\"", "s \"openblas\""].contains(lines[1]))
            #expect(lines.last == "u 0")
        }
    }

    @Test("a job end to end: ordered progress signals, Completed, TakeFrames; the model stays loaded")
    func jobEndToEnd() async throws {
        try await DaemonBus.with { bus, connection in
            let signals = try await JobSignals.subscribe(connection)
            let managerSignals = try await JobSignals.subscribe(connection, pathNamespace: DaemonBus.managerPath)
            let png = try Fixtures.png(width: 80, height: 60)
            let asked = ContinuousClock.now
            let job = try await connection.animate(imagePath: png, quickJob())
            #expect(job.hasPrefix(DaemonBus.jobRoot + "/"))
            let done = try await signals.waitForCompletion(of: job)
            print("first job incl. activation and model load: \(String(format: "%.2f", (done.time - asked).seconds)) s")
            #expect(done.success)
            #expect(done.errorName == "" && done.message == "")

            // Progress arrives in order: steps 1…4 one by one, progress never decreasing,
            // the stages in pipeline order, and State done before Completed.
            #expect(signals.values(of: "Step", at: job) == (1...4).map { DBusValue.uint32(UInt32($0)) })
            let progress = signals.values(of: "Progress", at: job).compactMap(\.doubleValue)
            #expect(progress == progress.sorted())
            #expect(progress.last == 1)
            #expect(signals.values(of: "Stage", at: job).compactMap(\.stringValue) == ["loading", "encoding", "denoising", "decoding"])
            #expect(signals.values(of: "State", at: job).compactMap(\.stringValue) == ["running", "done"])
            let remaining = signals.values(of: "RemainingSeconds", at: job).compactMap(\.doubleValue)
            #expect(remaining.last == 0)
            #expect(remaining.contains { $0 > 0 })
            let lastChange = try #require(signals.all.last { $0.signal.path == job && $0.signal.member == "PropertiesChanged" })
            #expect(lastChange.time <= done.time)
            #expect(signals.all.last?.signal.member == "Completed")
            // The manager announced its state changes too. Its return to idle is a separate
            // PropertiesChanged that may arrive just after the job's Completed: wait for it.
            try await managerSignals.wait { $0.values(of: "State", at: DaemonBus.managerPath).last == .string("idle") }
            let states = managerSignals.values(of: "State", at: DaemonBus.managerPath).compactMap(\.stringValue)
            #expect(states.first == "loading" && states.last == "idle")
            #expect(managerSignals.values(of: "LoadedModel", at: DaemonBus.managerPath) == [.string("demo")])

            // Properties read back as the signals said.
            let properties = try await connection.getAllProperties(destination: DaemonBus.busName, path: job, interface: DaemonBus.jobInterface)
            #expect(properties["State"] == .string("done"))
            #expect(properties["Stage"] == .string("decoding"))
            #expect(properties["Step"] == .uint32(4) && properties["TotalSteps"] == .uint32(4))
            #expect(properties["Progress"] == .double(1) && properties["RemainingSeconds"] == .double(0))

            // The frames, once, as a sealed read-only memfd.
            let reply = try await connection.job(job, "TakeFrames")
            let fd = try #require(reply.first?.unixFDValue?.take())
            defer { close(fd) }
            let info = try #require(reply.last?.vardictValue)
            #expect(info == ["width": .uint32(64), "height": .uint32(64), "frames": .uint32(4), "format": .string("RGB"), "fps": .uint32(8)])
            let bytes = Descriptors.readAll(fd)
            #expect(bytes.count == 4 * 64 * 64 * 3)
            #expect(write(fd, [UInt8(0)], 1) == -1)
            let again = await dbusError { _ = try await connection.job(job, "TakeFrames") }
            #expect(again?.name == DaemonBus.errorPrefix + "InvalidArgument")
            #expect(again?.message.contains("already taken") == true)

            // The second job finds the model in memory: no loading stage; same seed, same frames.
            #expect(try await connection.managerProperty("LoadedModel") == .string("demo"))
            let started = ContinuousClock.now
            let second = try await connection.animate(imagePath: png, quickJob())
            let secondDone = try await signals.waitForCompletion(of: second)
            print("second job (model resident): \(String(format: "%.2f", (secondDone.time - started).seconds)) s")
            #expect(secondDone.success)
            #expect(!signals.values(of: "Stage", at: second).contains(.string("loading")))
            let secondReply = try await connection.job(second, "TakeFrames")
            let secondFD = try #require(secondReply.first?.unixFDValue?.take())
            defer { close(secondFD) }
            #expect(Descriptors.readAll(secondFD) == bytes)
            _ = bus
        }
    }

    @Test("results through output descriptors: mp4, webm and gif files, raw frames through a pipe")
    func outputDescriptors() async throws {
        try await DaemonBus.with { bus, connection in
            let signals = try await JobSignals.subscribe(connection)
            let png = try Fixtures.png(width: 64, height: 64)
            for (format, codec) in [("mp4", "h264"), ("webm", "vp8"), ("gif", "gif")] {
                let path = bus.directory + "/clip.\(format)"
                var options = quickJob()
                options["output"] = .unixFD(try Descriptors.outputFile(path))
                options["output-format"] = .string(format)
                let job = try await connection.animate(imagePath: png, options)
                let done = try await signals.waitForCompletion(of: job)
                #expect(done.success, "\(format): \(done.errorName) \(done.message)")
                #expect(signals.values(of: "Stage", at: job).last == .string("writing"))
                let probed = try probe(path)
                #expect(probed.codec == codec)
                #expect(probed.frames == 4, "\(format)")
                let refused = await dbusError { _ = try await connection.job(job, "TakeFrames") }
                #expect(refused?.name == DaemonBus.errorPrefix + "InvalidArgument")
            }

            // Raw frames into a pipe: more than a pipe holds, so the daemon waits for the reader.
            var ends: [Int32] = [0, 0]
            try #require(pipe(&ends) == 0)
            let received = Descriptors.readInBackground(ends[0])
            var options = quickJob(frames: 8)
            options["output"] = .unixFD(DBusUnixFD(taking: ends[1]))
            options["output-format"] = .string("raw")
            let job = try await connection.animate(imagePath: png, options)
            options = [:] // our copy of the write end is closed; the daemon holds its own
            let bytes = received()
            #expect(bytes.count == 8 * 64 * 64 * 3, "the daemon closes the descriptor when done")
            #expect(try await signals.waitForCompletion(of: job).success)
        }
    }

    @Test("raw pixels from a memfd: RGB and padded RGBA give the same frames; a wrong size is refused")
    func rawPixelInput() async throws {
        try await DaemonBus.with { _, connection in
            let signals = try await JobSignals.subscribe(connection)
            let (width, height) = (48, 32)
            var rgb = [UInt8](repeating: 0, count: width * height * 3)
            for i in rgb.indices { rgb[i] = UInt8((i * 7) % 251) }
            let stride = width * 4 + 16
            var rgba = [UInt8](repeating: 0x55, count: stride * height)
            for y in 0..<height {
                for x in 0..<width {
                    for c in 0..<3 { rgba[y * stride + x * 4 + c] = rgb[(y * width + x) * 3 + c] }
                }
            }
            func raw(_ format: String, _ stride: Int) -> [String: DBusValue] {
                var options = quickJob(steps: 2)
                options["format"] = .string(format)
                options["width"] = .uint32(UInt32(width))
                options["height"] = .uint32(UInt32(height))
                options["stride"] = .uint32(UInt32(stride))
                return options
            }
            var frames: [[UInt8]] = []
            for (bytes, format, rowBytes) in [(rgb, "RGB", width * 3), (rgba, "RGBA", stride)] {
                let job = try await connection.animate(fd: try Descriptors.memfd(holding: bytes), raw(format, rowBytes))
                #expect(try await signals.waitForCompletion(of: job).success)
                let reply = try await connection.job(job, "TakeFrames")
                let fd = try #require(reply.first?.unixFDValue?.take())
                frames.append(Descriptors.readAll(fd))
                close(fd)
            }
            #expect(frames[0] == frames[1])
            #expect(frames[0].count == 4 * 64 * 64 * 3)

            let short = await dbusError { _ = try await connection.animate(fd: try Descriptors.memfd(holding: Array(rgb.dropLast(3))), raw("RGB", width * 3)) }
            #expect(short?.name == DaemonBus.errorPrefix + "InvalidImage")
            #expect(short?.message.contains("stride × height") == true)
            let narrow = await dbusError { _ = try await connection.animate(fd: try Descriptors.memfd(holding: rgb), raw("RGBA", width * 3)) }
            #expect(narrow?.name == DaemonBus.errorPrefix + "InvalidArgument")
            var incomplete = quickJob()
            incomplete["format"] = .string("RGB")
            let missing = await dbusError { _ = try await connection.animate(fd: try Descriptors.memfd(holding: rgb), incomplete) }
            #expect(missing?.name == DaemonBus.errorPrefix + "InvalidArgument")
            #expect(missing?.message.contains("width, height, stride") == true)
        }
    }
}
