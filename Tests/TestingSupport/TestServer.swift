import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A Hugging Face-like HTTP server on 127.0.0.1 (Python's `http.server`, started per test):
/// `GET /<mode>/<repo>/resolve/main/model.ckpt` answers 302 to `/cdn/<mode>/model.ckpt` with
/// the file's sha256 in `X-Linked-Etag` (and `X-Linked-Size`); the CDN path serves the bytes
/// with `Content-Length`, `Accept-Ranges: bytes`, a non-sha `ETag`, and honours `Range`.
/// Modes: `ok`; `direct` (no redirect, sha256 in `ETag`); `drop` (a request without `Range`
/// gets the full `Content-Length` but only half the bytes, then the connection closes); `lie`
/// (publishes a wrong hash); `norange` (ignores `Range`, always 200); `nohash`; `404`; `500`;
/// `auth` (401 unless `Authorization: Bearer secret`, then a redirect to the CDN under the
/// other name of loopback, `localhost`, as Hugging Face redirects to another host); `huge`
/// (announces 2^60 bytes, sends none); `slow` (the first 4 KiB, then the rest once the test
/// calls `releaseSlowTransfers()`, or after 60 s).
/// Used as an HTTP proxy, it logs the absolute URL asked for (status 0), then serves the path;
/// a `CONNECT` (an https URL through the proxy) is logged and refused with 502.
/// Every request is logged as a JSON line (path, range, status, bytes it will send, the
/// Authorization header).
public final class TestServer {
    public struct Request: Decodable, Sendable {
        public let path: String
        public let range: String?
        public let status: Int
        public let bytes: Int
        public let auth: String?
    }

    public let port: Int
    public let fileSHA256: String
    public let fileSize: Int
    private let server: RunningCommand
    private let logPath: String

    static let script = #"""
import http.server, json, os, socket, sys, threading, time
data = open(sys.argv[1], 'rb').read()
sha = sys.argv[2]
log_path = sys.argv[3]
lock = threading.Lock()
def log(**entry):
    with lock:
        with open(log_path, 'a') as f:
            f.write(json.dumps(entry) + "\n")
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    def log_message(self, *args):
        pass
    def entry(self, status, sent, rng=None):
        log(path=self.path, range=rng, status=status, bytes=sent, auth=self.headers.get('Authorization'))
    def plain(self, status, text):
        body = text.encode()
        self.entry(status, 0, self.headers.get('Range'))
        self.send_response(status)
        self.send_header('Content-Type', 'text/plain')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        if self.path.startswith('http://'):
            # Asked as a proxy (absolute form): log that, then serve the path.
            self.entry(0, 0, self.headers.get('Range'))
            self.path = '/' + self.path.split('/', 3)[3]
        parts = self.path.strip('/').split('/')
        rng = self.headers.get('Range')
        if parts[0] == 'cdn':
            return self.serve(parts[1], rng, False)
        mode = parts[0]
        if mode == '404':
            return self.plain(404, 'Entry not found')
        if mode == '500':
            return self.plain(500, 'Internal Error')
        if mode == 'direct':
            return self.serve(mode, rng, True)
        if mode == 'auth' and self.headers.get('Authorization') != 'Bearer secret':
            return self.plain(401, 'Invalid credentials')
        self.entry(302, 0, rng)
        self.send_response(302)
        published = ('0' * 64) if mode == 'lie' else sha
        if mode != 'nohash':
            self.send_header('X-Linked-Etag', '"%s"' % published)
        self.send_header('X-Linked-Size', str(len(data)))
        if mode == 'auth':
            self.send_header('Location', 'http://localhost:%d/cdn/auth/model.ckpt' % self.server.server_address[1])
        else:
            self.send_header('Location', '/cdn/%s/model.ckpt' % mode)
        self.send_header('Content-Length', '0')
        self.end_headers()
    def serve(self, mode, rng, direct):
        start = 0
        if rng and mode != 'norange':
            start = int(rng.split('=')[1].split('-')[0])
        if mode == 'huge':
            self.entry(200, 0, rng)
            self.send_response(200)
            self.send_header('Content-Length', str(2 ** 60))
            self.end_headers()
            self.close_connection = True
            return
        if start >= len(data) and start > 0:
            self.entry(416, 0, rng)
            self.send_response(416)
            self.send_header('Content-Range', 'bytes */%d' % len(data))
            self.send_header('Content-Length', '0')
            self.end_headers()
            return
        body = data[start:]
        status = 206 if start > 0 else 200
        drop = mode == 'drop' and start == 0
        sent = len(body) // 2 if drop else len(body)
        self.entry(status, sent, rng)
        self.send_response(status)
        self.send_header('Content-Type', 'application/octet-stream')
        self.send_header('Content-Length', str(len(body)))
        self.send_header('Accept-Ranges', 'bytes')
        self.send_header('ETag', '"%s"' % (sha if direct else 'cdn-0123456789abcdef0123456789abcdef'))
        if status == 206:
            self.send_header('Content-Range', 'bytes %d-%d/%d' % (start, len(data) - 1, len(data)))
        self.end_headers()
        if mode == 'slow':
            self.wfile.write(body[:4096])
            self.wfile.flush()
            release = os.path.join(os.path.dirname(log_path), 'release-slow')
            deadline = time.time() + 60
            while not os.path.exists(release) and time.time() < deadline:
                time.sleep(0.02)
            self.wfile.write(body[4096:sent])
        else:
            self.wfile.write(body[:sent])
        self.wfile.flush()
        if drop:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
    def do_CONNECT(self):
        self.entry(502, 0)
        self.send_response(502)
        self.send_header('Content-Length', '0')
        self.end_headers()
        self.close_connection = True
def watch_parent(parent):
    # The test stops us with SIGTERM; should the test process die first, we go too.
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)
threading.Thread(target=watch_parent, args=(os.getppid(),), daemon=True).start()
server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"""#

    public struct StartFailure: Error, CustomStringConvertible { public let description: String }

    /// Serves `file`; `directory` holds the script and the log.
    public init(serving file: String, directory: String) throws {
        let scriptPath = (directory as NSString).appendingPathComponent("server.py")
        logPath = (directory as NSString).appendingPathComponent("requests.jsonl")
        try Self.script.write(toFile: scriptPath, atomically: true, encoding: .utf8)
        fileSHA256 = try Self.sha256sum(file)
        fileSize = (try FileManager.default.attributesOfItem(atPath: file)[.size] as? NSNumber)?.intValue ?? 0
        server = try Command("/usr/bin/env", ["python3", scriptPath, file, fileSHA256, logPath]).start()
        // The first line is the port.
        let deadline = ContinuousClock.now + .seconds(30)
        while !server.stdout.contains("\n"), server.isRunning, ContinuousClock.now < deadline {
            usleep(2_000)
        }
        guard let port = Int(server.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            server.signal(SIGKILL)
            throw StartFailure(description: "the test HTTP server did not start (python3 \(scriptPath)): \(server.stderr)")
        }
        self.port = port
    }

    deinit {
        // SIGTERM ends Python at once (children start with no blocked signals); SIGKILL after 5 s.
        server.stop()
    }

    public func base(_ mode: String) -> String { "http://127.0.0.1:\(port)/\(mode)" }

    /// The checkpoint's URL in `mode`, as a Hugging Face `resolve` URL.
    public func url(_ mode: String) -> String { base(mode) + "/Doubiiu/Tiny/resolve/main/model.ckpt" }

    /// Lets `slow` transfers send the rest of the file.
    public func releaseSlowTransfers() throws {
        let path = ((logPath as NSString).deletingLastPathComponent as NSString).appendingPathComponent("release-slow")
        try Data().write(to: URL(fileURLWithPath: path))
    }

    /// The raw request log, a JSON line per request.
    public var requestLog: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    public func requests() throws -> [Request] {
        guard let data = FileManager.default.contents(atPath: logPath) else { return [] }
        return try data.split(separator: 10).map { try JSONDecoder().decode(Request.self, from: Data($0)) }
    }

    /// `sha256sum FILE`, the reference the hashes are compared with.
    public static func sha256sum(_ file: String) throws -> String {
        String(try Command("/usr/bin/sha256sum", [file]).run().checked().stdout.prefix(64))
    }
}
