import Foundation
#if canImport(Glibc)
import Glibc
#endif
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Bytes so far of one download, for a progress display.
public struct TransferProgress: Sendable {
    /// Bytes in the partial file, including those from an earlier, resumed attempt.
    public let received: Int64
    /// The whole file's size, when the server said.
    public let total: Int64?
    /// Bytes already there when this attempt started.
    public let resumedFrom: Int64
    /// Seconds since this attempt started.
    public let elapsed: Double
    public let finished: Bool

    public init(received: Int64, total: Int64?, resumedFrom: Int64, elapsed: Double, finished: Bool) {
        self.received = received
        self.total = total
        self.resumedFrom = resumedFrom
        self.elapsed = elapsed
        self.finished = finished
    }

    /// Bytes per second over this attempt.
    public var rate: Double { elapsed > 0 ? Double(received - resumedFrom) / elapsed : 0 }
    /// Seconds left at the current rate.
    public var remaining: Double? {
        guard let total, rate > 0 else { return nil }
        return Double(max(0, total - received)) / rate
    }
}

/// One HTTP download into a partial file that survives interruptions: a second call resumes
/// with `Range: bytes=N-`, accepting only a `206` whose `Content-Range` starts at N (a `200`
/// means the server sends everything again, so the partial file starts over). The sidecar
/// (`<partial>.json`) keeps the URL and the published hash, so a partial file of another URL
/// or of a since-changed file is never continued.
///
/// URLSession from FoundationNetworking (libcurl underneath, which honours `https_proxy`,
/// `HTTPS_PROXY`, `http_proxy` and `no_proxy` on its own). Synchronous: it blocks the caller.
public struct Downloader: Sendable {
    public struct Result: Sendable {
        public let size: Int64
        /// The SHA-256 the server published (`X-Linked-Etag`, else a 64-digit `ETag`).
        public let publishedSHA256: String?
        public let resumedFrom: Int64
    }

    struct Sidecar: Codable, Equatable {
        var url: String
        var publishedSHA256: String?
    }

    /// A bearer token and the one origin it may be sent to. Hugging Face redirects LFS files to
    /// a CDN on another host; the token must not follow (it would leak to the CDN, whose
    /// signed URL needs none), so it goes only to requests whose scheme, host and port match.
    public struct Credentials: Sendable, Equatable {
        public let token: String
        public let origin: URL

        public init(token: String, origin: URL) {
            self.token = token
            self.origin = origin
        }

        func applies(to url: URL) -> Bool {
            url.scheme?.lowercased() == origin.scheme?.lowercased() && url.host?.lowercased() == origin.host?.lowercased()
                && Self.port(url) == Self.port(origin)
        }

        private static func port(_ url: URL) -> Int? {
            url.port ?? (url.scheme?.lowercased() == "https" ? 443 : url.scheme?.lowercased() == "http" ? 80 : nil)
        }
    }

    /// Idle seconds before a stalled connection counts as interrupted.
    public var idleTimeout: Double = 60
    public var credentials: Credentials?

    public init(idleTimeout: Double = 60, credentials: Credentials? = nil) {
        self.idleTimeout = idleTimeout
        self.credentials = credentials
    }

    public func download(url: URL, to partial: String, manualHint: String,
                         progress: @escaping @Sendable (TransferProgress) -> Void) throws -> Result {
        let sidecarPath = partial + ".json"
        let fm = FileManager.default
        var offset: Int64 = 0
        var previous: Sidecar?
        if fm.fileExists(atPath: partial),
           let data = fm.contents(atPath: sidecarPath),
           let sidecar = try? JSONDecoder().decode(Sidecar.self, from: data), sidecar.url == url.absoluteString {
            previous = sidecar
            offset = ((try? fm.attributesOfItem(atPath: partial))?[.size] as? NSNumber)?.int64Value ?? 0
        } else {
            try? fm.removeItem(atPath: partial)
        }
        // Two attempts at most: the second only when the server no longer publishes the hash the
        // partial file was started with (the file changed), from byte 0.
        for _ in 0 ..< 2 {
            let attempt = Attempt(url: url, partial: partial, offset: offset, previousHash: previous?.publishedSHA256,
                                  idleTimeout: idleTimeout, credentials: credentials, progress: progress)
            let outcome = try attempt.run(manualHint: manualHint)
            switch outcome {
            case let .complete(size, hash):
                return Result(size: size, publishedSHA256: hash, resumedFrom: offset)
            case .fileChanged:
                try? fm.removeItem(atPath: partial)
                try? fm.removeItem(atPath: sidecarPath)
                offset = 0
                previous = nil
            }
        }
        throw ModelStoreError.io("\(url.absoluteString): the file changed on the server twice during the download; try again")
    }

    /// The sha256 in an `ETag`/`X-Linked-Etag` value (`"…"`, `W/"…"`), if it is one.
    public static func sha256(fromETag value: String) -> String? {
        var text = value.trimmingCharacters(in: .whitespaces)
        if text.hasPrefix("W/") { text.removeFirst(2) }
        text = text.trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        let lower = text.lowercased()
        guard lower.utf8.count == 64, lower.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else { return nil }
        return lower
    }

    static func header(_ name: String, in response: HTTPURLResponse) -> String? {
        for (key, value) in response.allHeaderFields {
            if let key = key as? String, key.lowercased() == name.lowercased() { return value as? String }
        }
        return nil
    }

    static func publishedHash(_ response: HTTPURLResponse) -> String? {
        header("X-Linked-Etag", in: response).flatMap(sha256(fromETag:)) ?? header("ETag", in: response).flatMap(sha256(fromETag:))
    }

    /// Bytes free for an unprivileged writer on the filesystem holding `path`'s folder.
    static func availableSpace(near path: String) -> Int64? {
        var stats = statvfs()
        let folder = (path as NSString).deletingLastPathComponent
        guard statvfs(folder.isEmpty ? "." : folder, &stats) == 0 else { return nil }
        let (bytes, overflow) = Int64(stats.f_bavail).multipliedReportingOverflow(by: Int64(stats.f_frsize))
        return overflow ? Int64.max : bytes
    }

    /// `bytes START-END/TOTAL` → (START, TOTAL).
    static func contentRange(_ value: String) -> (start: Int64, total: Int64?)? {
        let trimmed = value.trimmingCharacters(in: .whitespaces)
        guard trimmed.lowercased().hasPrefix("bytes ") else { return nil }
        let spec = trimmed.dropFirst(6)
        let parts = spec.split(separator: "/", maxSplits: 1)
        guard parts.count == 2, let dash = parts[0].firstIndex(of: "-"), let start = Int64(parts[0][..<dash]) else { return nil }
        return (start, Int64(parts[1]))
    }
}

/// One HTTP request and its delegate; state behind a lock because URLSession calls the
/// delegate on its own queue while the caller waits.
private final class Attempt: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    enum Outcome {
        case complete(size: Int64, publishedSHA256: String?)
        case fileChanged
    }

    private let url: URL
    private let partial: String
    private let offset: Int64
    private let previousHash: String?
    private let idleTimeout: Double
    private let credentials: Downloader.Credentials?
    private let progress: @Sendable (TransferProgress) -> Void
    private let lock = NSLock()
    private let done = DispatchSemaphore(value: 0)

    // Guarded by `lock`.
    private var handle: FileHandle?
    private var written: Int64 = 0
    private var total: Int64?
    private var redirectHash: String?
    private var published: String?
    private var failure: (any Error)?
    private var changed = false
    private var sawResponse = false
    /// The token went with the request that was answered (for the access-denied message).
    private var tokenSent = false
    private var lastReport = Date.distantPast
    private let started = Date()

    init(url: URL, partial: String, offset: Int64, previousHash: String?, idleTimeout: Double,
         credentials: Downloader.Credentials?, progress: @escaping @Sendable (TransferProgress) -> Void) {
        self.url = url
        self.partial = partial
        self.offset = offset
        self.previousHash = previousHash
        self.idleTimeout = idleTimeout
        self.credentials = credentials
        self.progress = progress
        written = offset
    }

    private func request(for url: URL) -> URLRequest {
        var request = URLRequest(url: url)
        request.setValue("dynamicrafter-linux", forHTTPHeaderField: "User-Agent")
        // The raw bytes: a transfer encoding would make Range offsets meaningless.
        request.setValue("identity", forHTTPHeaderField: "Accept-Encoding")
        if offset > 0 { request.setValue("bytes=\(offset)-", forHTTPHeaderField: "Range") }
        if let credentials, credentials.applies(to: url) {
            request.setValue("Bearer \(credentials.token)", forHTTPHeaderField: "Authorization")
        }
        return request
    }

    func run(manualHint: String) throws -> Outcome {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = idleTimeout
        configuration.timeoutIntervalForResource = 7 * 24 * 3600
        configuration.requestCachePolicy = .reloadIgnoringLocalAndRemoteCacheData
        configuration.urlCache = nil
        let queue = OperationQueue()
        queue.maxConcurrentOperationCount = 1
        let session = URLSession(configuration: configuration, delegate: self, delegateQueue: queue)
        let task = session.dataTask(with: request(for: url))
        task.resume()
        done.wait()
        session.finishTasksAndInvalidate()

        lock.lock()
        defer { lock.unlock() }
        try? handle?.synchronize()
        try? handle?.close()
        handle = nil
        if changed { return .fileChanged }
        if let failure {
            if let storeError = failure as? ModelStoreError { throw storeError }
            let reason = (failure as NSError).localizedDescription
            if !sawResponse, let urlError = failure as? URLError, Self.unreachableCodes.contains(urlError.code) {
                throw ModelStoreError.unreachable(url: url.absoluteString, reason: reason, manualHint: manualHint)
            }
            if !sawResponse {
                throw ModelStoreError.unreachable(url: url.absoluteString, reason: reason, manualHint: manualHint)
            }
            throw ModelStoreError.interrupted(url: url.absoluteString, received: written, reason: reason)
        }
        if let total, written != total {
            throw ModelStoreError.interrupted(url: url.absoluteString, received: written,
                                              reason: "the connection closed at \(written) of \(total) bytes")
        }
        progress(TransferProgress(received: written, total: total ?? written, resumedFrom: offset,
                                  elapsed: Date().timeIntervalSince(started), finished: true))
        return .complete(size: written, publishedSHA256: published)
    }

    private static let unreachableCodes: Set<URLError.Code> = [
        .cannotFindHost, .cannotConnectToHost, .notConnectedToInternet, .dnsLookupFailed, .timedOut,
        .secureConnectionFailed, .serverCertificateUntrusted, .serverCertificateHasBadDate, .cannotLoadFromNetwork,
    ]

    // Hugging Face answers `resolve/main/<LFS file>` with a redirect to its CDN that carries the
    // file's sha256 in `X-Linked-Etag`; the CDN's own ETag is something else.
    func urlSession(_ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
                    newRequest request: URLRequest, completionHandler: @escaping @Sendable (URLRequest?) -> Void) {
        lock.lock()
        if let hash = Downloader.header("X-Linked-Etag", in: response).flatMap(Downloader.sha256(fromETag:)) {
            redirectHash = hash
        }
        lock.unlock()
        guard let target = request.url else { return completionHandler(nil) }
        completionHandler(self.request(for: target))
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                    completionHandler: @escaping @Sendable (URLSession.ResponseDisposition) -> Void) {
        lock.lock()
        defer { lock.unlock() }
        sawResponse = true
        guard let http = response as? HTTPURLResponse else {
            failure = ModelStoreError.io("\(url.absoluteString): not an HTTP response")
            return completionHandler(.cancel)
        }
        published = redirectHash ?? Downloader.publishedHash(http)
        let status = http.statusCode
        tokenSent = http.url.map { credentials?.applies(to: $0) ?? false } ?? false
        let length = Downloader.header("Content-Length", in: http).flatMap { Int64($0.trimmingCharacters(in: .whitespaces)) }
        var start: Int64 = 0
        switch status {
        case 200:
            total = length
        case 206:
            guard offset > 0, let range = Downloader.header("Content-Range", in: http).flatMap(Downloader.contentRange),
                  range.start == offset else {
                failure = ModelStoreError.io("\(url.absoluteString): the server sent a byte range other than the one asked for; delete the partial download and try again")
                return completionHandler(.cancel)
            }
            start = offset
            total = range.total ?? length.map { $0 + offset }
        case 416 where offset > 0:
            // Nothing left to send: complete already if the server's size is what we have.
            let size = Downloader.header("Content-Range", in: http).flatMap { $0.split(separator: "/").last.flatMap { Int64($0) } }
            if size == offset, published == nil || published == previousHash {
                total = offset
                published = published ?? previousHash
                return completionHandler(.cancel)
            }
            changed = true
            return completionHandler(.cancel)
        case 401, 403:
            failure = ModelStoreError.accessDenied(url: url.absoluteString, status: status, tokenSent: tokenSent)
            return completionHandler(.cancel)
        default:
            failure = ModelStoreError.httpStatus(url: url.absoluteString, status: status)
            return completionHandler(.cancel)
        }
        if start > 0, let previousHash, let published, previousHash != published {
            changed = true
            return completionHandler(.cancel)
        }
        // Refuse before writing a byte when the rest cannot fit (the partial file stays as it was).
        if let total, let available = Downloader.availableSpace(near: partial) {
            let needed = total - start
            if needed > available {
                failure = ModelStoreError.insufficientSpace(path: (partial as NSString).deletingLastPathComponent,
                                                            needed: needed, available: available)
                return completionHandler(.cancel)
            }
        }
        // Open the partial file at `start`: 0 truncates (a 200 sends everything again).
        let fm = FileManager.default
        if start == 0 {
            guard fm.createFile(atPath: partial, contents: nil) else {
                failure = ModelStoreError.io("cannot create \(partial)")
                return completionHandler(.cancel)
            }
        }
        do {
            let sidecar = Downloader.Sidecar(url: url.absoluteString, publishedSHA256: published)
            try JSONEncoder().encode(sidecar).write(to: URL(fileURLWithPath: partial + ".json"), options: .atomic)
            let h = try FileHandle(forWritingTo: URL(fileURLWithPath: partial))
            try h.truncate(atOffset: UInt64(start))
            try h.seek(toOffset: UInt64(start))
            handle = h
            written = start
        } catch {
            failure = ModelStoreError.io("cannot write \(partial): \(error.localizedDescription)")
            return completionHandler(.cancel)
        }
        report(finished: false)
        completionHandler(.allow)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        lock.lock()
        defer { lock.unlock() }
        guard let handle, failure == nil else { return }
        do {
            try handle.write(contentsOf: data)
            written += Int64(data.count)
        } catch {
            failure = ModelStoreError.io("cannot write \(partial): \(error.localizedDescription)")
            dataTask.cancel()
            return
        }
        if Date().timeIntervalSince(lastReport) >= 0.25 { report(finished: false) }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: (any Error)?) {
        lock.lock()
        if let error, failure == nil, !changed, !(total == offset && (error as? URLError)?.code == .cancelled) {
            failure = error
        }
        lock.unlock()
        done.signal()
    }

    /// Called with `lock` held.
    private func report(finished: Bool) {
        lastReport = Date()
        progress(TransferProgress(received: written, total: total, resumedFrom: offset,
                                  elapsed: Date().timeIntervalSince(started), finished: finished))
    }
}
