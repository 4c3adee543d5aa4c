import DynamiCrafterModel
import Foundation
import TensorStorage
import Weights

/// What `convert(name:to:)` did.
public struct ConversionResult: Sendable {
    /// The model as listed afterwards (its converted copy is what loads now).
    public let model: InstalledModel
    /// The copy, `<folder>/model.safetensors`.
    public let path: String
    public let dtype: DType
    /// Bytes of the copy and of the original it was made from.
    public let size: Int64
    public let originalSize: Int64
    /// The copy was already there in that precision: nothing was written.
    public let alreadyPresent: Bool

    /// Bytes the copy saves over the original (negative when it is larger).
    public var saving: Int64 { originalSize - size }
}

extension ModelStore {
    /// The file a converted copy is written to, beside the original.
    public static let convertedFileName = "model.safetensors"

    /// Writes a memory-mappable `model.safetensors` beside an installed checkpoint with every
    /// floating-point tensor rounded to `dtype` (bf16 or f16 halve an fp32 checkpoint), checks
    /// the copy's keys and shapes as the original's were checked, and records it; loading
    /// (`ModelLocation`, the daemon) prefers it from then on. Written under a temporary name
    /// and renamed when complete; holds the name's lock. `progress(done, total)` gets the bytes
    /// written so far; returning false stops the conversion (nothing is left behind).
    public func convert(name: String, to dtype: DType,
                        progress: (_ done: Int, _ total: Int) -> Bool = { _, _ in true }) throws -> ConversionResult {
        try Self.validate(name: name)
        guard dtype.isFloatingPoint else {
            throw ModelStoreError.invalidArgument("cannot convert to \(dtype.rawValue): choose bf16, f16 or f32")
        }
        guard FileManager.default.fileExists(atPath: directory) else { throw ModelStoreError.notInstalled(name: name) }
        return try withLock(name) { try convertLocked(name: name, to: dtype, progress: progress) }
    }

    private func convertLocked(name: String, to dtype: DType, progress: (Int, Int) -> Bool) throws -> ConversionResult {
        let folder = path(of: name)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ModelStoreError.notInstalled(name: name)
        }
        guard let record = readRecord(folder: folder) else {
            throw ModelStoreError.invalidArgument("\(folder) was not installed by `dynamicrafter models` (it has no \(InstallRecord.fileName)); convert its weights with `dynamicrafter convert IN OUT.safetensors --dtype \(dtype.rawValue)`")
        }
        let original = (folder as NSString).appendingPathComponent(record.file)
        let output = (folder as NSString).appendingPathComponent(Self.convertedFileName)
        guard record.file != Self.convertedFileName else {
            throw ModelStoreError.invalidArgument("\(original) is already a safetensors file (\(record.dtype)); use `dynamicrafter convert` to write another precision elsewhere")
        }
        let fm = FileManager.default
        func size(_ path: String) -> Int64? { ((try? fm.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.int64Value }
        let originalSize = size(original) ?? record.size
        if let converted = record.converted, converted.file == Self.convertedFileName, converted.dtype == dtype.rawValue,
           size(output) == converted.size, let model = model(named: name) {
            return ConversionResult(model: model, path: output, dtype: dtype, size: converted.size, originalSize: originalSize,
                                    alreadyPresent: true)
        }
        guard fm.fileExists(atPath: original) else {
            throw ModelStoreError.io("\(original) is missing (deleted after an earlier conversion?); remove and install the model again to convert it")
        }
        // Leftovers of an interrupted conversion (the writer's temporary names).
        for entry in (try? fm.contentsOfDirectory(atPath: folder)) ?? [] where entry.hasPrefix(Self.convertedFileName + ".tmp-") {
            try? fm.removeItem(atPath: (folder as NSString).appendingPathComponent(entry))
        }
        let archive: any WeightArchive
        do {
            archive = try WeightFile.open(original)
        } catch {
            throw ModelStoreError.io("cannot read \(original): \(error)")
        }
        let entries = PrecisionConversion.entries(of: archive, to: dtype)
        let estimate = Int64(entries.reduce(0) { $0 + $1.info.byteCount }) + 1 << 20
        // A copy already there in another precision is replaced: its space comes back.
        let reclaimed = record.converted == nil ? 0 : (size(output) ?? 0)
        if let available = Downloader.availableSpace(near: output), estimate > available + reclaimed {
            throw ModelStoreError.insufficientSpace(path: folder, needed: estimate, available: available + reclaimed)
        }
        let summary: PrecisionConversion.Summary
        do {
            summary = try PrecisionConversion.write(archive, to: output, dtype: dtype, progress: progress)
        } catch {
            throw ModelStoreError.io("converting \(original): \(error)")
        }
        // The copy must be a model that loads: the same key and shape check as at install.
        do {
            _ = try ModelCheck.installed(record: record, folder: folder).verify(weights: output)
        } catch {
            try? fm.removeItem(atPath: output)
            throw error
        }
        let copy = InstallRecord.ConvertedCopy(file: Self.convertedFileName, dtype: dtype.rawValue, size: Int64(summary.bytesWritten))
        do {
            try recordConversion(name: name, copy: copy)
        } catch {
            try? fm.removeItem(atPath: output)
            throw error
        }
        guard let model = model(named: name) else { throw ModelStoreError.notInstalled(name: name) }
        return ConversionResult(model: model, path: output, dtype: dtype, size: copy.size, originalSize: originalSize,
                                alreadyPresent: false)
    }
}

extension ModelCheck {
    /// The check an installed model passed: its record's preset, else the configuration file
    /// installed beside it.
    static func installed(record: InstallRecord, folder: String) throws -> ModelCheck {
        if let name = record.preset, let preset = Preset.named(name) { return .preset(preset) }
        for file in ModelLocation.configFileNames {
            let path = (folder as NSString).appendingPathComponent(file)
            if FileManager.default.fileExists(atPath: path) { return .configFile(path) }
        }
        throw ModelStoreError.io("\(folder): the record names no preset and no configuration file is beside the weights")
    }
}
