import TensorCore
import TensorStorage
import Weights

/// Everything wrong with a checkpoint against a `ParameterManifest`, found in one pass.
public struct ManifestReport: Sendable, Equatable, CustomStringConvertible {
    public struct Missing: Sendable, Equatable { public let key: String; public let expected: [Int] }
    public struct Unexpected: Sendable, Equatable { public let key: String; public let shape: [Int] }
    public struct Mismatch: Sendable, Equatable {
        /// The key as stored in the file.
        public let key: String
        public let expected: [Int]
        public let found: [Int]
    }
    public struct WrongDType: Sendable, Equatable { public let key: String; public let dtype: String }

    public let file: String
    /// Canonical keys the file lacks, in manifest order.
    public let missing: [Missing]
    /// File keys the model does not have, sorted.
    public let unexpected: [Unexpected]
    /// Keys present with another shape.
    public let mismatched: [Mismatch]
    /// Keys that are not floating-point tensors.
    public let wrongDType: [WrongDType]
    /// How the file names the fs/fps embedding, so a loader can map keys.
    public let fpsEmbeddingNaming: FpsEmbeddingNaming
    /// Number of keys that matched name and shape.
    public let matched: Int

    public var isClean: Bool { missing.isEmpty && unexpected.isEmpty && mismatched.isEmpty && wrongDType.isEmpty }
    public var problemCount: Int { missing.count + unexpected.count + mismatched.count + wrongDType.count }

    /// The key under which the file stores a canonical manifest key.
    public func storedKey(for canonical: String) -> String {
        CheckpointKeys.stored(canonical, naming: fpsEmbeddingNaming)
    }

    public var description: String {
        var lines = ["\(file): \(matched) tensors match; \(missing.count) missing, \(unexpected.count) unexpected, "
                     + "\(mismatched.count) with the wrong shape, \(wrongDType.count) not floating-point "
                     + "(fs embedding named \(fpsEmbeddingNaming))"]
        lines += missing.map { "  missing     \($0.key) \(Shape.describe($0.expected))" }
        lines += unexpected.map { "  unexpected  \($0.key) \(Shape.describe($0.shape))" }
        lines += mismatched.map { "  wrong shape \($0.key): \(Shape.describe($0.found)), expected \(Shape.describe($0.expected))" }
        lines += wrongDType.map { "  wrong dtype \($0.key): \($0.dtype)" }
        return lines.joined(separator: "\n")
    }
}

/// A checkpoint that does not fit the configuration; carries the full report.
public struct ManifestMismatchError: Error, Sendable, CustomStringConvertible {
    public let report: ManifestReport
    public var description: String { report.description }
}

extension ParameterManifest {
    /// Compares a file's tensors (names, shapes, float dtype) with the manifest, accepting the
    /// legacy `framestride_embed` naming for `fps_embedding`.
    public func check(_ archive: any WeightArchive) -> ManifestReport {
        check(tensors: archive.infos.map { ($0.name, $0.info.shape, $0.info.dtype.isFloatingPoint ? nil : $0.info.dtype.rawValue) },
              file: archive.path)
    }

    /// Like `check(_:)`, throwing `ManifestMismatchError` unless the file matches exactly.
    public func validate(_ archive: any WeightArchive) throws -> ManifestReport {
        let report = check(archive)
        guard report.isClean else { throw ManifestMismatchError(report: report) }
        return report
    }

    /// The check on a plain list of (stored key, shape, non-float dtype name or nil).
    public func check(tensors: [(key: String, shape: [Int], badDType: String?)], file: String) -> ManifestReport {
        let hasNew = tensors.contains { $0.key.hasPrefix(CheckpointKeys.fpsEmbedding) }
        let hasOld = tensors.contains { $0.key.hasPrefix(CheckpointKeys.legacyFramestrideEmbed) }
        let naming: FpsEmbeddingNaming = hasNew && hasOld ? .mixed : hasNew ? .fpsEmbedding : hasOld ? .legacyFramestrideEmbed : .absent
        var seen = Set<String>()
        var unexpected: [ManifestReport.Unexpected] = []
        var mismatched: [ManifestReport.Mismatch] = []
        var wrong: [ManifestReport.WrongDType] = []
        var matched = 0
        for t in tensors {
            // With both namings present the canonical one wins; the legacy keys are extra.
            let canonical = naming == .mixed ? t.key : CheckpointKeys.canonical(t.key)
            guard let expected = shape(of: canonical), !seen.contains(canonical) else {
                unexpected.append(.init(key: t.key, shape: t.shape))
                continue
            }
            seen.insert(canonical)
            if let d = t.badDType { wrong.append(.init(key: t.key, dtype: d)) }
            if expected != t.shape {
                mismatched.append(.init(key: t.key, expected: expected, found: t.shape))
            } else if t.badDType == nil {
                matched += 1
            }
        }
        let missing = entries.filter { !seen.contains($0.key) }.map { ManifestReport.Missing(key: $0.key, expected: $0.shape) }
        return ManifestReport(file: file, missing: missing, unexpected: unexpected.sorted { $0.key < $1.key },
                              mismatched: mismatched, wrongDType: wrong, fpsEmbeddingNaming: naming, matched: matched)
    }
}
