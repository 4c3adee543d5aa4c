import Foundation

/// What `fetch` is asked to install.
public struct FetchRequest: Sendable {
    public var name: String
    public var url: URL
    public var check: ModelCheck
    /// A hash to insist on when the server publishes none (or to pin a known file).
    public var expectedSHA256: String?
    /// A token for the hub (`ModelSource.credentials`), sent to its host only.
    public var credentials: Downloader.Credentials?

    public init(name: String, url: URL, check: ModelCheck, expectedSHA256: String? = nil,
                credentials: Downloader.Credentials? = nil) {
        self.name = name
        self.url = url
        self.check = check
        self.expectedSHA256 = expectedSHA256
        self.credentials = credentials
    }
}

/// The stages of a fetch after the transfer, for messages.
public enum FetchStage: Sendable {
    /// The same model (same source, or the same preset) is installed and verified: nothing to do.
    case alreadyInstalled(InstalledModel)
    case downloading(resumingFrom: Int64)
    case hashing(size: Int64)
    case checkingKeys
    case installing
}

extension ModelStore {
    /// Downloads (resuming a partial download of the same URL), verifies the SHA-256 against
    /// the published hash, checks the keys and shapes, and only then installs `DIR/<name>/`.
    /// A hash or key mismatch deletes the download; an interruption keeps it for resuming.
    /// Holds the name's lock throughout: a second fetch (or an add or remove) of the same name
    /// is refused with `.busy` instead of writing the same partial file.
    public func fetch(_ request: FetchRequest, downloader: Downloader = Downloader(),
                      stage: @Sendable (FetchStage) -> Void = { _ in },
                      progress: @escaping @Sendable (TransferProgress) -> Void = { _ in },
                      hashProgress: ((Int64) -> Void)? = nil) throws -> InstalledModel {
        try Self.validate(name: request.name)
        if let pinned = request.expectedSHA256, Downloader.sha256(fromETag: pinned) == nil {
            throw ModelStoreError.invalidArgument("--sha256 \(pinned): not a 64-digit hex SHA-256")
        }
        return try withLock(request.name) {
            if let installed = try installedAlready(request) {
                stage(.alreadyInstalled(installed))
                return installed
            }
            return try fetchLocked(request, downloader: downloader, stage: stage, progress: progress, hashProgress: hashProgress)
        }
    }

    /// A verified model of that name from the same source (or, for a preset, any verified
    /// install of that preset: a mirror serves the same file) needs no second download; a
    /// different model under the name is an error.
    private func installedAlready(_ request: FetchRequest) throws -> InstalledModel? {
        guard FileManager.default.fileExists(atPath: path(of: request.name)) else { return nil }
        if let model = model(named: request.name), model.verified, let record = model.record,
           record.source == request.url.absoluteString || (request.check.presetName != nil && record.preset == request.check.presetName) {
            return model
        }
        throw ModelStoreError.alreadyInstalled(name: request.name, path: path(of: request.name))
    }

    private func fetchLocked(_ request: FetchRequest, downloader: Downloader, stage: @Sendable (FetchStage) -> Void,
                             progress: @escaping @Sendable (TransferProgress) -> Void,
                             hashProgress: ((Int64) -> Void)?) throws -> InstalledModel {
        var downloader = downloader
        if let credentials = request.credentials { downloader.credentials = credentials }
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
            actual = try FileDigest.sha256(file: partial, progress: hashProgress)
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
