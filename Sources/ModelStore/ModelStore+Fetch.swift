import Foundation

/// What `fetch` is asked to install.
public struct FetchRequest: Sendable {
    public var name: String
    public var url: URL
    public var check: ModelCheck
    /// A hash to insist on when the server publishes none (or to pin a known file).
    public var expectedSHA256: String?

    public init(name: String, url: URL, check: ModelCheck, expectedSHA256: String? = nil) {
        self.name = name
        self.url = url
        self.check = check
        self.expectedSHA256 = expectedSHA256
    }
}

/// The stages of a fetch after the transfer, for messages.
public enum FetchStage: Sendable {
    case downloading(resumingFrom: Int64)
    case hashing(size: Int64)
    case checkingKeys
    case installing
}

extension ModelStore {
    /// Downloads (resuming a partial download of the same URL), verifies the SHA-256 against
    /// the published hash, checks the keys and shapes, and only then installs `DIR/<name>/`.
    /// A hash or key mismatch deletes the download; an interruption keeps it for resuming.
    public func fetch(_ request: FetchRequest, downloader: Downloader = Downloader(),
                      stage: @Sendable (FetchStage) -> Void = { _ in },
                      progress: @escaping @Sendable (TransferProgress) -> Void = { _ in },
                      hashProgress: ((Int64) -> Void)? = nil) throws -> InstalledModel {
        try Self.validate(name: request.name)
        if let pinned = request.expectedSHA256, Downloader.sha256(fromETag: pinned) == nil {
            throw ModelStoreError.invalidArgument("--sha256 \(pinned): not a 64-digit hex SHA-256")
        }
        try createDirectory()
        try refuseExisting(request.name)
        let partial = partialPath(of: request.name)
        let sidecar = sidecarPath(of: request.name)
        let resumable = ((try? FileManager.default.attributesOfItem(atPath: partial))?[.size] as? NSNumber)?.int64Value ?? 0
        stage(.downloading(resumingFrom: resumable))
        let hint = "dynamicrafter models add FILE " + (request.check.presetName.map { "--preset \($0)" } ?? "--config CONFIG")
            + " --name \(request.name)"
        let result = try downloader.download(url: request.url, to: partial, manualHint: hint, progress: progress)

        func discard() {
            try? FileManager.default.removeItem(atPath: partial)
            try? FileManager.default.removeItem(atPath: sidecar)
        }
        let pinned = request.expectedSHA256.flatMap(Downloader.sha256(fromETag:))
        if let pinned, let published = result.publishedSHA256, pinned != published {
            discard()
            throw ModelStoreError.invalidArgument("--sha256 \(pinned) differs from the hash the server publishes (\(published)); nothing was installed")
        }
        guard let expected = result.publishedSHA256 ?? pinned else {
            discard()
            throw ModelStoreError.noPublishedHash(url: request.url.absoluteString)
        }
        stage(.hashing(size: result.size))
        let actual: String
        do {
            actual = try SHA256.hash(file: partial, progress: hashProgress)
        } catch {
            discard()
            throw error
        }
        guard actual == expected else {
            discard()
            throw ModelStoreError.hashMismatch(expected: expected, actual: actual)
        }
        stage(.checkingKeys)
        let dtype: String
        do {
            dtype = try request.check.verify(weights: partial)
        } catch {
            discard()
            throw error
        }
        stage(.installing)
        let model = try install(name: request.name, check: request.check, record: { fileName in
            InstallRecord(preset: request.check.presetName, source: request.url.absoluteString, file: fileName, sha256: actual,
                          publishedSHA256: result.publishedSHA256, size: result.size, verified: true,
                          installed: InstallRecord.now(), dtype: dtype)
        }, place: { destination in
            guard rename(partial, destination) == 0 else {
                throw ModelStoreError.io("cannot move \(partial) to \(destination): \(String(cString: strerror(errno)))")
            }
        }, source: partial)
        try? FileManager.default.removeItem(atPath: sidecar)
        return model
    }
}
