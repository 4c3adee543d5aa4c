import TestingSupport
import DBusKit
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

extension DaemonTests {
    /// A client written with dbus-python (Debian's python3-dbus), passing descriptors the way
    /// any other program would.
    static let pythonClient = #"""
        import dbus, json, os, sys
        from dbus.mainloop.glib import DBusGMainLoop
        from gi.repository import GLib

        DBusGMainLoop(set_as_default=True)
        bus = dbus.bus.BusConnection(sys.argv[1])
        loop = GLib.MainLoop()
        seen = {"steps": [], "states": [], "completed": None}

        def changed(interface, values, invalidated, path=None):
            if interface != "org.dynamicrafter.Animator1.Job": return
            if "Step" in values: seen["steps"].append(int(values["Step"]))
            if "State" in values: seen["states"].append(str(values["State"]))

        def completed(success, name, message, path=None):
            seen["completed"] = [bool(success), str(name), str(message)]
            loop.quit()

        bus.add_signal_receiver(changed, "PropertiesChanged", "org.freedesktop.DBus.Properties", path_keyword="path")
        bus.add_signal_receiver(completed, "Completed", "org.dynamicrafter.Animator1.Job", path_keyword="path")
        manager = dbus.Interface(bus.get_object("org.dynamicrafter.Animator1", "/org/dynamicrafter/Animator1"),
                                 "org.dynamicrafter.Animator1")
        with open(sys.argv[2], "rb") as image:
            job = manager.Animate(dbus.types.UnixFd(image), {"frames": dbus.UInt32(4), "steps": dbus.UInt32(4),
                                                            "prompt": "a calm lake", "seed": dbus.UInt64(5)})
        GLib.timeout_add_seconds(120, loop.quit)
        loop.run()
        frames, info = dbus.Interface(bus.get_object("org.dynamicrafter.Animator1", job),
                                      "org.dynamicrafter.Animator1.Job").TakeFrames()
        with os.fdopen(frames.take(), "rb") as data:
            size = len(data.read())
        try:
            manager.Animate(dbus.types.UnixFd(sys.stdin.fileno()), {"frames": "many"})
            refused = ""
        except dbus.exceptions.DBusException as error:
            refused = error.get_dbus_name()
        print(json.dumps({"job": str(job), "seen": seen, "bytes": size,
                          "info": {k: (str(v) if isinstance(v, str) else int(v)) for k, v in info.items()},
                          "refused": refused}))
        """#

    @Test("an external dbus-python client: Animate with a descriptor, signals, TakeFrames, errors")
    func pythonClient() async throws {
        try await DaemonBus.with { bus, _ in
            let script = bus.directory + "/client.py"
            try Self.pythonClient.write(toFile: script, atomically: true, encoding: .utf8)
            let result = try Command("/usr/bin/python3", [script, bus.bus.address, try Fixtures.png(width: 96, height: 64)]).run()
            #expect(result.status == 0, "\(result.stderr)")
            let json = try #require(try JSONSerialization.jsonObject(with: result.stdoutData) as? [String: Any])
            let seen = try #require(json["seen"] as? [String: Any])
            #expect(seen["steps"] as? [Int] == [1, 2, 3, 4])
            #expect(seen["states"] as? [String] == ["running", "done"])
            let completed = try #require(seen["completed"] as? [Any])
            #expect(completed.count == 3 && completed[0] as? Bool == true && completed[1] as? String == "" && completed[2] as? String == "")
            #expect(json["bytes"] as? Int == 4 * 64 * 64 * 3)
            let info = try #require(json["info"] as? [String: Any])
            #expect(info["width"] as? Int == 64 && info["frames"] as? Int == 4 && info["format"] as? String == "RGB")
            #expect(json["refused"] as? String == DaemonBus.errorPrefix + "InvalidArgument")
        }
    }

    @Test("settings from a configuration file, the command line winning; a bad file is refused naming its line")
    func configurationFile() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("config-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let daemon = try Executables.daemon()

        let bad = directory + "/bad.conf"
        try "# comment\nqueue-length = 2\ncolour = red\n".write(toFile: bad, atomically: true, encoding: .utf8)
        let refused = try Command(daemon, ["--config", bad, "--bus", "unix:path=/nonexistent"]).run()
        #expect(refused.status == 78)
        #expect(refused.stderr.contains("bad.conf:3: unknown setting 'colour'"))
        let notNumber = directory + "/number.conf"
        try "queue-length = many\n".write(toFile: notNumber, atomically: true, encoding: .utf8)
        #expect(try Command(daemon, ["--config", notNumber]).run().stderr.contains("'queue-length' must be a whole number"))
        let usage = try Command(daemon, ["--help"]).run()
        #expect(usage.status == 0)
        for option in ["--bus", "--models-dir", "--model", "--queue-length", "--idle-exit", "--threads", "--job-retention", "--config"] {
            #expect(usage.stdout.contains(option), "\(option) missing from --help")
        }
        #expect(try Command(daemon, ["--bus", "nowhere"]).run().status != 0)

        // The file preloads the model and allows 5 queued jobs; the command line says 1.
        let good = directory + "/good.conf"
        try "queue-length = 5\npreload = yes   # load at start\nmodel = demo\n".write(toFile: good, atomically: true, encoding: .utf8)
        try await DaemonBus.with(arguments: ["--config", good, "--queue-length", "1"]) { bus, connection in
            _ = try await bus.daemonPID(connection)
            var loaded = DBusValue.string("")
            for _ in 0..<500 where loaded != .string("demo") {
                loaded = try await connection.managerProperty("LoadedModel")
                if loaded != .string("demo") { try await Task.sleep(for: .milliseconds(10)) }
            }
            #expect(loaded == .string("demo"), "preload = yes loads the model before any job")
            #expect(bus.log.contains("configuration \(good)"))
            let signals = try await JobSignals.subscribe(connection)
            let png = try Fixtures.png(width: 64, height: 64)
            let running = try await connection.animate(imagePath: png, longJob())
            try await signals.wait { $0.values(of: "Step", at: running).count >= 1 }
            _ = try await connection.animate(imagePath: png, quickJob())
            let busy = await dbusError { _ = try await connection.animate(imagePath: png, quickJob()) }
            #expect(busy?.name == DaemonBus.errorPrefix + "Busy")
            #expect(busy?.message.contains("1 jobs waiting") == true)
            _ = try await connection.job(running, "Cancel")
        }
    }

    /// A system bus configured like Debian's system.conf: calls are denied unless a service's
    /// policy allows them.
    static let systemLikePolicy = """
          <policy context="default">
            <allow user="*"/>
            <deny own="*"/>
            <deny send_type="method_call"/>
            <allow send_type="signal"/>
            <allow send_requested_reply="true" send_type="method_return"/>
            <allow send_requested_reply="true" send_type="error"/>
            <allow receive_type="method_call"/>
            <allow receive_type="method_return"/>
            <allow receive_type="error"/>
            <allow receive_type="signal"/>
            <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
            <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
          </policy>
        """

    @Test("the system bus policy: the service user (or root) owns the name, only the group may call")
    func systemBusPolicy() async throws {
        let policy = Executables.packageRoot.appendingPathComponent("dbus/org.dynamicrafter.Animator1.conf").path
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("policy-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // The same policy with its group swapped for one this test runs in (root: gid 0), so
        // "a member of the group" can be tried without creating users on the machine.
        let swapped = directory + "/swapped.conf"
        let text = try String(contentsOfFile: policy, encoding: .utf8)
        #expect(text.contains("<policy group=\"dynamicrafter\">"))
        try text.replacingOccurrences(of: "<policy group=\"dynamicrafter\">", with: "<policy group=\"root\">")
            .write(toFile: swapped, atomically: true, encoding: .utf8)
        let rootIsMember = getgid() == 0 || getegid() == 0
        try #require(getuid() == 0 && rootIsMember, "this test runs as root (as CI does) to try the user and group rules")

        for (file, callerIsMember) in [(policy, false), (swapped, true)] {
            let bus = try PrivateBus(policy: Self.systemLikePolicy, includes: [file])
            defer { bus.stop() }
            let daemon = try Command(try Executables.daemon(),
                                     ["--bus", bus.address, "--models-dir", try Fixtures.modelsDirectory(), "--threads", "1"]).start()
            defer { daemon.stop() }
            let client = try DBusConnection(.address(bus.address))
            defer { client.close() }
            // Root may own the name: the daemon comes up.
            var owner: String?
            for _ in 0..<500 where owner == nil {
                owner = try? await client.call(destination: "org.freedesktop.DBus", path: "/org/freedesktop/DBus",
                                               interface: "org.freedesktop.DBus", member: "GetNameOwner",
                                               arguments: [.string(DaemonBus.busName)]).first?.stringValue
                if owner == nil { try await Task.sleep(for: .milliseconds(20)) }
            }
            #expect(owner != nil, "the daemon could not own its name")
            let outcome = await dbusError { _ = try await client.manager("GetModels") }
            if callerIsMember {
                #expect(outcome == nil)
            } else {
                #expect(outcome?.name == DBusError.Name.accessDenied)
                let introspect = await dbusError { _ = try await client.introspect(destination: DaemonBus.busName, path: DaemonBus.managerPath) }
                #expect(introspect?.name == DBusError.Name.accessDenied)
            }
            // Nobody but the service user and root may own the name.
            #expect(!text.contains("<allow own=\"*\""))
        }
    }
}
