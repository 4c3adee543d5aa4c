import DynamiCrafterModel
import Foundation
import Weights

/// The models directory: one folder per installed model, `DIR/<name>/model.ckpt` (or
/// `model.safetensors`) plus `installed.json`, which `ModelLocation.resolve` and the daemon's
/// registry read as they are. Work in progress lives under hidden names (`.<name>.partial`,
/// `.<name>.staging-PID`) that nothing lists, and a model appears only by one `rename` of a
/// complete, verified folder: an interrupted or failed install never looks installed.
public struct ModelStore: Sendable {
    public let directory: String

    public init(directory: String) {
        self.directory = directory
    }

    /// `$XDG_DATA_HOME/dynamicrafter/models`, else `~/.local/share/dynamicrafter/models`.
    public static func defaultDirectory(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let xdg = environment["XDG_DATA_HOME"], xdg.hasPrefix("/") {
            return (xdg as NSString).appendingPathComponent("dynamicrafter/models")
        }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        return (home as NSString).appendingPathComponent(".local/share/dynamicrafter/models")
    }

    public func path(of name: String) -> String { (directory as NSString).appendingPathComponent(name) }
    func partialPath(of name: String) -> String { (directory as NSString).appendingPathComponent(".\(name).partial") }
    func sidecarPath(of name: String) -> String { partialPath(of: name) + ".json" }

    public static func validate(name: String) throws {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
        guard !name.isEmpty, name.count <= 100, !name.hasPrefix("."), name.allSatisfy(allowed.contains) else {
            throw ModelStoreError.invalidName(name)
        }
    }

    // MARK: Listing

    /// Every model folder (hidden work-in-progress names excluded), sorted by name. Folders
    /// without a record (a demo model, a checkpoint copied by hand) are listed as unverified.
    public func installed() -> [InstalledModel] {
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: directory) else { return [] }
        return names.sorted().compactMap { name in
            guard !name.hasPrefix(".") else { return nil }
            return model(folder: path(of: name), name: name)
        }
    }

    /// The installed model called `name`, or nil.
    public func model(named name: String) -> InstalledModel? {
        guard (try? Self.validate(name: name)) != nil else { return nil }
        return model(folder: path(of: name), name: name)
    }

    private func model(folder: String, name: String) -> InstalledModel? {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue,
              let entries = try? fm.contentsOfDirectory(atPath: folder) else { return nil }
        let weights = entries.filter { !$0.hasPrefix(".") && ModelLocation.weightExtensions.contains(($0 as NSString).pathExtension.lowercased()) }
        guard !weights.isEmpty else { return nil }
        // The file ModelLocation would load (a folder put there by hand may leave a choice).
        let loaded = ModelLocation.preferredWeights(among: weights) ?? weights.sorted()[0]
        let loadedPath = (folder as NSString).appendingPathComponent(loaded)
        let sizes = Dictionary(uniqueKeysWithValues: weights.map { file in
            (file, ((try? fm.attributesOfItem(atPath: (folder as NSString).appendingPathComponent(file)))?[.size] as? NSNumber)?.int64Value)
        })
        let size = sizes.values.reduce(Int64(0)) { $0 + ($1 ?? 0) }
        let record = readRecord(folder: folder)
        let dtype: String
        if let record, record.file == loaded {
            dtype = record.dtype
        } else if let record, let converted = record.converted, converted.file == loaded {
            dtype = converted.dtype
        } else if let archive = try? WeightFile.open(loadedPath) {
            dtype = ModelCheck.dtypes(of: archive)
        } else {
            dtype = "unreadable"
        }
        let preset = record?.preset ?? (Preset.named(name) != nil ? name : nil)
        // Verified: the record says every check passed for the file that would be loaded (the
        // original or its converted copy), and that file still has the recorded size (a file
        // replaced by hand is not).
        let loadedSize = sizes[loaded] ?? nil
        var verified = false
        if let record, record.verified {
            if record.file == loaded {
                verified = loadedSize == record.size
            } else if let converted = record.converted, converted.file == loaded {
                verified = loadedSize == converted.size
            }
        }
        return InstalledModel(name: name, path: folder, weightsPath: loadedPath, preset: preset, size: size, dtype: dtype,
                              verified: verified, record: record)
    }

    func readRecord(folder: String) -> InstallRecord? {
        let path = (folder as NSString).appendingPathComponent(InstallRecord.fileName)
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return try? JSONDecoder().decode(InstallRecord.self, from: data)
    }

    // MARK: Removing

    /// Deletes the model's folder (first renamed to a hidden name, so a half-deleted folder is
    /// never listed) and any partial download of that name.
    @discardableResult
    public func remove(name: String) throws -> InstalledModel? {
        try Self.validate(name: name)
        guard FileManager.default.fileExists(atPath: directory) else { throw ModelStoreError.notInstalled(name: name) }
        return try withLock(name) { try removeLocked(name: name) }
    }

    private func removeLocked(name: String) throws -> InstalledModel? {
        let folder = path(of: name)
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        let hadPartial = fm.fileExists(atPath: partialPath(of: name))
        try? fm.removeItem(atPath: partialPath(of: name))
        try? fm.removeItem(atPath: sidecarPath(of: name))
        guard fm.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
            if hadPartial { return nil }
            throw ModelStoreError.notInstalled(name: name)
        }
        let existing = model(named: name)
        let doomed = (directory as NSString).appendingPathComponent(".\(name).removing-\(getpid())")
        guard rename(folder, doomed) == 0 else {
            throw ModelStoreError.io("cannot remove \(folder): \(String(cString: strerror(errno)))")
        }
        do {
            try fm.removeItem(atPath: doomed)
        } catch {
            throw ModelStoreError.io("cannot delete \(doomed): \(error.localizedDescription)")
        }
        return existing
    }

    // MARK: Installing

    func createDirectory() throws {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw ModelStoreError.io("cannot create the models directory \(directory): \(error.localizedDescription)")
        }
    }

    func refuseExisting(_ name: String) throws {
        let folder = path(of: name)
        if FileManager.default.fileExists(atPath: folder) {
            throw ModelStoreError.alreadyInstalled(name: name, path: folder)
        }
    }

    /// How `add` places the file: hard link when on the same filesystem, else a copy.
    public enum Placement: String, Sendable {
        case linked, copied, moved
    }

    /// `models add`: checks keys and shapes, hashes, then links or copies `file` into the store.
    public func add(file: String, name: String, check: ModelCheck) throws -> (model: InstalledModel, placement: Placement) {
        try Self.validate(name: name)
        guard FileManager.default.isReadableFile(atPath: file) else {
            throw ModelStoreError.invalidArgument("\(file): no such readable file")
        }
        return try withLock(name) { try addLocked(file: file, name: name, check: check) }
    }

    private func addLocked(file: String, name: String, check: ModelCheck) throws -> (model: InstalledModel, placement: Placement) {
        try refuseExisting(name)
        let dtype = try check.verify(weights: file)
        let sha = try FileDigest.sha256(file: file)
        let size = Int64((try? FileManager.default.attributesOfItem(atPath: file)[.size] as? NSNumber)??.int64Value ?? 0)
        let source = URL(fileURLWithPath: file).standardizedFileURL.path
        var placement = Placement.linked
        let model = try install(name: name, check: check, record: { fileName in
            InstallRecord(preset: check.presetName, source: source, file: fileName, sha256: sha, publishedSHA256: nil,
                          size: size, verified: true, installed: InstallRecord.now(), dtype: dtype)
        }, place: { destination in
            if link(file, destination) != 0 {
                placement = .copied
                do {
                    try FileManager.default.copyItem(atPath: file, toPath: destination)
                } catch {
                    throw ModelStoreError.io("cannot copy \(file) into \(directory): \(error.localizedDescription)")
                }
            }
        }, source: file)
        // The copy is what will be loaded: make sure it is the file that was hashed.
        if placement == .copied {
            let copied = try FileDigest.sha256(file: model.weightsPath)
            guard copied == sha else {
                _ = try? removeLocked(name: name)
                throw ModelStoreError.io("the copy in \(model.path) differs from \(file); nothing was installed")
            }
        }
        return (model, placement)
    }

    /// Assembles `DIR/.<name>.staging-PID/` (weights, configuration for a custom model, record)
    /// and renames it to `DIR/<name>` in one step.
    func install(name: String, check: ModelCheck, record: (String) -> InstallRecord,
                 place: (String) throws -> Void, source: String) throws -> InstalledModel {
        let fm = FileManager.default
        let staging = (directory as NSString).appendingPathComponent(".\(name).staging-\(getpid())")
        try? fm.removeItem(atPath: staging)
        do {
            try fm.createDirectory(atPath: staging, withIntermediateDirectories: false)
        } catch {
            throw ModelStoreError.io("cannot create \(staging): \(error.localizedDescription)")
        }
        do {
            let fileName = (try? WeightFile.format(of: source)) == .safetensors ? "model.safetensors" : "model.ckpt"
            try place((staging as NSString).appendingPathComponent(fileName))
            if case let .configFile(config) = check {
                let ext = (config as NSString).pathExtension.lowercased()
                let target = (staging as NSString).appendingPathComponent(ext == "json" ? "config.json" : "config.yaml")
                do {
                    try fm.copyItem(atPath: config, toPath: target)
                } catch {
                    throw ModelStoreError.io("cannot copy \(config): \(error.localizedDescription)")
                }
            }
            let recordPath = (staging as NSString).appendingPathComponent(InstallRecord.fileName)
            do {
                try record(fileName).encoded().write(to: URL(fileURLWithPath: recordPath))
            } catch {
                throw ModelStoreError.io("cannot write \(recordPath): \(error.localizedDescription)")
            }
            let folder = path(of: name)
            guard rename(staging, folder) == 0 else {
                let reason = String(cString: strerror(errno))
                if errno == EEXIST || errno == ENOTEMPTY { throw ModelStoreError.alreadyInstalled(name: name, path: folder) }
                throw ModelStoreError.io("cannot move the model into \(folder): \(reason)")
            }
        } catch {
            try? fm.removeItem(atPath: staging)
            throw error
        }
        guard let model = model(named: name) else {
            throw ModelStoreError.io("\(path(of: name)) was installed but cannot be read back")
        }
        return model
    }

    /// Records a converted copy (`--convert`) in the model's record.
    func recordConversion(name: String, copy: InstallRecord.ConvertedCopy) throws {
        let folder = path(of: name)
        guard var record = readRecord(folder: folder) else { throw ModelStoreError.notInstalled(name: name) }
        record.converted = copy
        let path = (folder as NSString).appendingPathComponent(InstallRecord.fileName)
        let temporary = (folder as NSString).appendingPathComponent(".\(InstallRecord.fileName).tmp-\(getpid())")
        do {
            try record.encoded().write(to: URL(fileURLWithPath: temporary))
        } catch {
            throw ModelStoreError.io("cannot write \(temporary): \(error.localizedDescription)")
        }
        guard rename(temporary, path) == 0 else {
            unlink(temporary)
            throw ModelStoreError.io("cannot update \(path): \(String(cString: strerror(errno)))")
        }
    }
}
