import TestingSupport
import DBusKit
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Jobs of callers that leave the bus are cancelled: also when the caller left while its
/// Animate was being processed, and also past the system bus's 512 match rules per connection.
extension DaemonTests {
    @Test("callers that leave right after calling Animate leave no job behind: each is abandoned or cancelled")
    func callersLeavingMidAnimate() async throws {
        try await DaemonBus.with { bus, connection in
            let signals = try await JobSignals.subscribe(connection)
            _ = try await connection.managerProperty("Version") // the daemon is up
            let png = try Fixtures.png(width: 64, height: 64)
            // The bus forwards Animate and, right behind it, the caller's departure: the daemon
            // mostly sees the caller leave while the submission is under way, before the engine
            // has its read or its job, and must still cancel the job once it is queued.
            var names: [String] = []
            for _ in 0..<20 {
                let leaving = try bus.connect()
                names.append(leaving.uniqueName)
                let fd = open(png, O_RDONLY | O_CLOEXEC)
                try #require(fd >= 0)
                try leaving.send(destination: DaemonBus.busName, path: DaemonBus.managerPath, interface: DaemonBus.managerInterface,
                                 member: "Animate", arguments: [.unixFD(DBusUnixFD(taking: fd)), .vardict(longJob())])
                leaving.close()
            }
            for name in names { try await waitUntilGone(name, connection) }

            // Settled: every job seen has ended (cancelled, not run), nothing queued or running.
            let deadline = ContinuousClock.now + .seconds(30)
            func jobs() -> Set<String> { Set(signals.all.map(\.signal.path)) }
            func settled() async throws -> Bool {
                guard try await connection.managerProperty("State") == .string("idle"),
                      try await connection.managerProperty("QueueLength") == .uint32(0) else { return false }
                return jobs().allSatisfy { signals.completion(of: $0) != nil }
            }
            while try await !settled(), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
            // And still settled a moment later: no submission was late to queue a job that runs.
            try await Task.sleep(for: .milliseconds(500))
            #expect(try await settled(), "jobs still going: \(jobs().filter { signals.completion(of: $0) == nil }.sorted())")
            for job in jobs().sorted() {
                let done = try #require(signals.completion(of: job))
                #expect(done.errorName == DaemonBus.errorPrefix + "Cancelled", "\(job): \(done.errorName) \(done.message)")
                #expect(done.message.contains("left the bus"), "\(job): \(done.message)")
            }
            print("20 callers left right after Animate: \(jobs().count) job(s) queued and cancelled, the rest abandoned or never read")
        }
    }

    @Test("600 callers on a system bus with its default limits: the last one's job is still cancelled when it leaves",
          .enabled(if: ManyCallers.unavailable == nil, "\(ManyCallers.unavailable ?? "")"))
    func cancelPastTheMatchRuleLimit() async throws {
        let started = ContinuousClock.now
        let bus = try SystemTypeBus(callers: ManyCallers.users.map(\.name))
        defer { bus.stop() }
        let daemon = try bus.startDaemon(modelsDirectory: try Fixtures.modelsDirectory())
        defer { _ = daemon.stop(grace: .zero) }
        let connection = try DBusConnection(.address(bus.address))
        defer { connection.close() }
        do {
            let signals = try await JobSignals.subscribe(connection)
            try await waitUntilOwned(DaemonBus.busName, connection, timeout: .seconds(60))
            let image = try bus.copy(try Fixtures.png(width: 64, height: 64))

            // 599 callers, a quarter per user (the bus allows 256 connections per user): each
            // calls Animate, cancels its job (so the worker stays idle) and stays connected.
            let users = ManyCallers.users
            let perUser = (ManyCallers.count - 1 + users.count - 1) / users.count
            var remaining = ManyCallers.count - 1
            var helpers: [CallerProcess] = []
            defer { helpers.forEach { $0.stop() } }
            for user in users {
                let count = min(perUser, remaining)
                remaining -= count
                helpers.append(try CallerProcess(bus: bus, user: user, count: count, image: image, options: ["frames": 4, "steps": 4],
                                                 cancel: true))
            }
            var callers: [CallerProcess.Caller] = []
            for helper in helpers { callers += try await helper.waitUntilReady(timeout: .seconds(240)) }
            let refused = callers.filter { $0.job == nil }
            #expect(refused.isEmpty, "\(refused.count) Animate calls failed, e.g. \(refused.first?.error ?? "")")
            try #require(callers.count == ManyCallers.count - 1)

            // The 600th caller: a long job, then the process dies.
            let last = try CallerProcess(bus: bus, user: users[users.count - 1], count: 1, image: image,
                                         options: ["frames": 16, "steps": 500], cancel: false)
            defer { last.stop() }
            let lastCaller = try #require(try await last.waitUntilReady(timeout: .seconds(60)).first)
            let job = try #require(lastCaller.job, "the 600th Animate failed: \(lastCaller.error ?? "")")
            let rules = try await matchRules(of: DaemonBus.busName, connection)
            let left = ContinuousClock.now
            last.stop()

            let done = try await signals.waitForCompletion(of: job, timeout: .seconds(20))
            print("\(ManyCallers.count) callers: the last left → Completed \(String(format: "%.1f", (done.time - left).seconds * 1000)) ms; "
                  + "daemon match rules: \(rules.map(String.init) ?? "not reported"); test \(String(format: "%.1f", (ContinuousClock.now - started).seconds)) s")
            #expect(!done.success)
            #expect(done.errorName == DaemonBus.errorPrefix + "Cancelled")
            #expect(done.message.contains("left the bus"))
            if let rules { #expect(rules < 10, "the daemon's match rules grow with its callers") }
            #expect(!daemon.stderr.contains("LimitsExceeded"))
            #expect(!daemon.stderr.contains("cannot watch"))
        } catch {
            Issue.record("daemon log:\n\(daemon.stderr.suffix(4000))")
            throw error
        }
    }
}

/// What the 600-caller test needs: root (to run callers as other users), setpriv, python3,
/// and four users the system knows (the bus looks up a connecting user's groups and drops
/// connections of unknown uids), taken from the accounts every Debian-like system has.
enum ManyCallers {
    static let count = 600

    struct User: Sendable {
        let name: String
        let uid: uid_t
        let gid: gid_t
    }

    /// Four users: 150 connections each, within the 256 per user the system bus allows.
    static let users: [User] = {
        var found: [User] = []
        for name in ["nobody", "daemon", "bin", "sys", "games", "man", "lp", "mail", "news", "uucp", "proxy", "backup"] {
            guard let entry = getpwnam(name), entry.pointee.pw_uid != 0,
                  !found.contains(where: { $0.uid == entry.pointee.pw_uid }) else { continue }
            found.append(User(name: name, uid: entry.pointee.pw_uid, gid: entry.pointee.pw_gid))
            if found.count == 4 { break }
        }
        return found
    }()

    static let unavailable: String? = {
        if geteuid() != 0 { return "needs root, to run callers as several users (setpriv)" }
        for tool in ["/usr/bin/setpriv", "/usr/bin/python3", "/usr/bin/dbus-daemon"] where access(tool, X_OK) != 0 {
            return "needs \(tool)"
        }
        if users.count < 4 { return "needs four system users to run callers as (found \(users.map(\.name)))" }
        return nil
    }()
}

/// Waits until `name` has no owner on the bus.
private func waitUntilGone(_ name: String, _ connection: DBusConnection, timeout: Duration = .seconds(10)) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await !hasOwner(name, connection) { return }
        try await Task.sleep(for: .milliseconds(5))
    }
    Issue.record("\(name) still on the bus after \(timeout)")
}

/// Waits until `name` has an owner on the bus.
private func waitUntilOwned(_ name: String, _ connection: DBusConnection, timeout: Duration) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await hasOwner(name, connection) { return }
        try await Task.sleep(for: .milliseconds(20))
    }
    throw SystemTypeBus.Failure(description: "nobody owns \(name) after \(timeout)")
}

private func hasOwner(_ name: String, _ connection: DBusConnection) async throws -> Bool {
    let reply = try await connection.call(destination: "org.freedesktop.DBus", path: "/org/freedesktop/DBus",
                                          interface: "org.freedesktop.DBus", member: "NameHasOwner", arguments: [.string(name)])
    return reply.first?.boolValue ?? false
}

/// The match rules a connection holds, from the bus's statistics interface; nil where the bus
/// was built without it.
private func matchRules(of name: String, _ connection: DBusConnection) async throws -> UInt32? {
    let reply = try? await connection.call(destination: "org.freedesktop.DBus", path: "/org/freedesktop/DBus",
                                           interface: "org.freedesktop.DBus.Debug.Stats", member: "GetConnectionStats",
                                           arguments: [.string(name)])
    return reply?.first?.vardictValue?["MatchRules"]?.uint32Value
}

/// A private dbus-daemon set up as a system bus: type system, the system bus's default
/// policy (as in /usr/share/dbus-1/system.conf) and the limits it keeps from dbus-daemon's
/// built-in defaults (spelled out here, so a future default cannot weaken the test), the
/// project's own policy file, and a private socket. The callers' users may call the daemon.
final class SystemTypeBus: Sendable {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    let directory: String
    let socketPath: String
    let address: String
    private let process: RunningCommand

    /// `callers`: the users that may call the daemon.
    init(callers: [String]) throws {
        var template = Array((NSTemporaryDirectory() + "/system-bus-XXXXXX").utf8CString)
        guard let created = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw Failure(description: "mkdtemp failed: \(String(cString: strerror(errno)))")
        }
        directory = String(cString: created)
        chmod(directory, 0o755) // the callers run as other users
        socketPath = directory + "/system_bus_socket"
        let projectPolicy = Executables.packageRoot.appendingPathComponent("dbus/org.dynamicrafter.Animator1.conf").path
        // Group "dynamicrafter" may call the daemon; the test's users stand in for its members.
        let callerPolicies = (["root"] + callers).map {
            "  <policy user=\"\($0)\"><allow send_destination=\"org.dynamicrafter.Animator1\"/></policy>\n"
        }.joined()
        let configuration = """
            <!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
             "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
            <busconfig>
              <type>system</type>
              <auth>EXTERNAL</auth>
              <listen>unix:path=\(socketPath)</listen>
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
                <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Properties"/>
                <deny send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus" send_member="UpdateActivationEnvironment"/>
                <deny send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Debug.Stats"/>
              </policy>
              <policy user="root">
                <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Debug.Stats"/>
              </policy>
              <limit name="max_match_rules_per_connection">512</limit>
              <limit name="max_connections_per_user">256</limit>
              <limit name="max_incomplete_connections">64</limit>
              <limit name="max_replies_per_connection">128</limit>
              <include>\(projectPolicy)</include>
            \(callerPolicies)</busconfig>

            """
        let configPath = directory + "/system.conf"
        try configuration.write(toFile: configPath, atomically: true, encoding: .utf8)
        do {
            process = try Command("/usr/bin/dbus-daemon", ["--config-file=\(configPath)", "--nofork", "--nopidfile", "--print-address=1"])
                .start()
        } catch {
            try? FileManager.default.removeItem(atPath: directory)
            throw error
        }
        let deadline = ContinuousClock.now + .seconds(10)
        while !process.stdout.contains("\n"), process.isRunning, ContinuousClock.now < deadline { usleep(10_000) }
        let line = process.stdout.split(separator: "\n").first.map(String.init) ?? ""
        guard line.hasPrefix("unix:") else {
            _ = process.stop(grace: .zero)
            try? FileManager.default.removeItem(atPath: directory)
            throw Failure(description: "dbus-daemon did not start (printed '\(line)'; \(process.stderr))")
        }
        address = line
    }

    /// Stops the bus and removes its directory.
    func stop() {
        process.signal(SIGKILL)
        _ = process.wait()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// A copy of `file` in the bus's directory, readable by the callers.
    func copy(_ file: String) throws -> String {
        let path = directory + "/" + URL(fileURLWithPath: file).lastPathComponent
        try FileManager.default.copyItem(atPath: file, toPath: path)
        chmod(path, 0o644)
        return path
    }

    /// Runs the daemon on this bus as root (the project's policy lets root own the name).
    /// One compute thread: only the last caller's job ever runs, and briefly.
    func startDaemon(modelsDirectory: String) throws -> RunningCommand {
        try Command(try Executables.daemon(), ["--bus", address, "--models-dir", modelsDirectory, "--idle-exit", "0",
                                               "--threads", "1", "--queue-length", "32", "--job-retention", "60"]).start()
    }
}

/// A process of a caller's uid holding `count` bus connections, each of which called Animate
/// (and, with `cancel`, Job.Cancel) once; it keeps them open until stopped. Written in Python
/// over a plain socket (D-Bus's wire format is small), so nothing beyond python3 is needed.
final class CallerProcess: Sendable {
    struct Caller: Sendable {
        let name: String
        let job: String?
        let error: String?
    }

    private let process: RunningCommand

    init(bus: SystemTypeBus, user: ManyCallers.User, count: Int, image: String, options: [String: UInt32], cancel: Bool) throws {
        let script = bus.directory + "/caller.py"
        if !FileManager.default.fileExists(atPath: script) {
            try Self.script.write(toFile: script, atomically: true, encoding: .utf8)
            chmod(script, 0o644)
        }
        let encodedOptions = options.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
        process = try Command("/usr/bin/setpriv", [
            "--reuid=\(user.uid)", "--regid=\(user.gid)", "--clear-groups", "/usr/bin/python3", "-I", script,
            bus.socketPath, image, String(count), encodedOptions, cancel ? "cancel" : "keep",
        ], directory: bus.directory).start()
    }

    /// The callers, once all have called; throws when the process fails or takes too long.
    func waitUntilReady(timeout: Duration) async throws -> [Caller] {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let lines = process.stdout.split(separator: "\n").map(String.init)
            if lines.last == "ready" {
                return lines.compactMap { line in
                    let fields = line.split(separator: " ", maxSplits: 2).map(String.init)
                    guard fields.count == 3 else { return nil }
                    switch fields[0] {
                    case "job": return Caller(name: fields[1], job: fields[2], error: nil)
                    case "error": return Caller(name: fields[1], job: nil, error: fields[2])
                    default: return nil
                    }
                }
            }
            guard process.isRunning else {
                throw SystemTypeBus.Failure(description: "caller process failed:\n\(lines.suffix(5).joined(separator: "\n"))\n\(process.stderr)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw SystemTypeBus.Failure(description: "callers not ready after \(timeout): \(process.stdout.suffix(300)) \(process.stderr)")
    }

    /// Kills the process: every one of its connections drops at once.
    func stop() {
        process.signal(SIGKILL)
        _ = process.wait()
    }

    /// The caller: connects `count` times, authenticating as its uid (EXTERNAL) and
    /// negotiating descriptor passing, calls Animate with the image, and prints
    /// `job NAME PATH` or `error NAME MESSAGE` for each, then `ready`.
    static let script = #"""
        import array, os, signal, socket, struct, sys

        class Writer:
            def __init__(self):
                self.data = bytearray()
            def pad(self, n):
                while len(self.data) % n:
                    self.data.append(0)
            def byte(self, v):
                self.data.append(v)
            def u32(self, v):
                self.pad(4)
                self.data += struct.pack('<I', v)
            def string(self, v):
                encoded = v.encode()
                self.u32(len(encoded))
                self.data += encoded + b'\0'
            def signature(self, v):
                self.byte(len(v))
                self.data += v.encode() + b'\0'
            def variant(self, sig, v):
                self.signature(sig)
                {'u': self.u32, 's': self.string, 'o': self.string, 'g': self.signature}[sig](v)
            def array(self, alignment, items, write):
                self.u32(0)
                at = len(self.data) - 4
                self.pad(alignment)
                start = len(self.data)
                for item in items:
                    write(item)
                struct.pack_into('<I', self.data, at, len(self.data) - start)

        class Connection:
            serial = 0

            def __init__(self, path):
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(path)
                self.buffer = b''
                uid = str(os.geteuid()).encode().hex().encode()
                self.sock.sendall(b'\0AUTH EXTERNAL ' + uid + b'\r\n')
                assert self.line().startswith(b'OK '), 'authentication refused'
                self.sock.sendall(b'NEGOTIATE_UNIX_FD\r\n')
                assert self.line() == b'AGREE_UNIX_FD', 'no descriptor passing'
                self.sock.sendall(b'BEGIN\r\n')
                ok, self.name = self.call('org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus', 'Hello')
                assert ok, self.name

            def receive(self, n):
                while len(self.buffer) < n:
                    chunk = self.sock.recv(65536)
                    if not chunk:
                        raise EOFError('the bus closed the connection')
                    self.buffer += chunk
                data, self.buffer = self.buffer[:n], self.buffer[n:]
                return data

            def line(self):
                while b'\r\n' not in self.buffer:
                    chunk = self.sock.recv(4096)
                    if not chunk:
                        raise EOFError('the bus closed the connection')
                    self.buffer += chunk
                line, self.buffer = self.buffer.split(b'\r\n', 1)
                return line

            def call(self, destination, path, interface, member, signature='', body=b'', fds=()):
                Connection.serial += 1
                serial = Connection.serial
                fields = [(1, 'o', path), (2, 's', interface), (3, 's', member), (6, 's', destination)]
                if signature:
                    fields.append((8, 'g', signature))
                if fds:
                    fields.append((9, 'u', len(fds)))
                w = Writer()
                w.data += b'l\x01\x00\x01'
                w.u32(len(body))
                w.u32(serial)
                def field(f):
                    w.pad(8)
                    w.byte(f[0])
                    w.variant(f[1], f[2])
                w.array(8, fields, field)
                w.pad(8)
                message = bytes(w.data) + body
                if fds:
                    self.sock.sendmsg([message], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array('i', fds))])
                else:
                    self.sock.sendall(message)
                while True:
                    kind, reply_to, error, first = self.read()
                    if kind in (2, 3) and reply_to == serial:
                        return kind == 2, (first if kind == 2 else '%s: %s' % (error, first))

            def read(self):
                header = self.receive(16)
                body_length, _, fields_length = struct.unpack_from('<III', header, 4)
                padded = (fields_length + 7) & ~7
                rest = self.receive(padded + body_length)
                fields, body = rest[:fields_length], rest[padded:]
                values, at = {}, 0
                while at < len(fields):
                    at = (at + 7) & ~7
                    code, length = fields[at], fields[at + 1]
                    sig = fields[at + 2:at + 2 + length].decode()
                    at += 3 + length
                    if sig == 'g':
                        n = fields[at]
                        values[code] = fields[at + 1:at + 1 + n].decode()
                        at += 2 + n
                    elif sig == 'u':
                        at = (at + 3) & ~3
                        values[code] = struct.unpack_from('<I', fields, at)[0]
                        at += 4
                    else:
                        at = (at + 3) & ~3
                        n = struct.unpack_from('<I', fields, at)[0]
                        values[code] = fields[at + 4:at + 4 + n].decode()
                        at += 5 + n
                first = ''
                if values.get(8, '')[:1] in ('s', 'o'):
                    n = struct.unpack_from('<I', body, 0)[0]
                    first = body[4:4 + n].decode(errors='replace')
                return header[1], values.get(5), values.get(4), first

        socket_path, image, count, options, mode = sys.argv[1:6]
        options = [(key, int(value)) for key, value in (item.split('=') for item in options.split(','))]
        body = Writer()
        body.u32(0)  # the first descriptor
        def option(item):
            body.pad(8)
            body.string(item[0])
            body.variant('u', item[1])
        body.array(8, options, option)
        connections = []
        for _ in range(int(count)):
            c = Connection(socket_path)
            connections.append(c)
            fd = os.open(image, os.O_RDONLY)
            ok, result = c.call('org.dynamicrafter.Animator1', '/org/dynamicrafter/Animator1', 'org.dynamicrafter.Animator1',
                                'Animate', 'ha{sv}', bytes(body.data), [fd])
            os.close(fd)
            if ok and mode == 'cancel':
                cancelled, error = c.call('org.dynamicrafter.Animator1', result, 'org.dynamicrafter.Animator1.Job', 'Cancel')
                if not cancelled:
                    ok, result = False, error
            print('%s %s %s' % ('job' if ok else 'error', c.name, ' '.join(result.split())), flush=True)
        print('ready', flush=True)
        while True:
            signal.pause()
        """#
}
