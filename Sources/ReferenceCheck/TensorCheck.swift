import Foundation
import TensorCore
import TensorStorage

/// How close a computed tensor must be to its golden value.
public enum Tolerance: Sendable, Equatable, CustomStringConvertible {
    /// max |a − g| ≤ bound · max |g| (scale-relative; the suite's default, 1e-4 in fp32).
    case relative(Double)
    /// max |a − g| ≤ bound.
    case absolute(Double)
    /// Integers (token ids, uint8 pixels): at most `fraction` of values may differ, by at most
    /// `maxDifference` (0 and 0 for exact).
    case integers(maxDifference: Double, fraction: Double)

    public var description: String {
        switch self {
        case .relative(let b): "rel ≤ \(b)"
        case .absolute(let b): "abs ≤ \(b)"
        case .integers(let d, let f): d == 0 ? "exact" : "|Δ| ≤ \(Int(d)) on ≤ \(f * 100)%"
        }
    }
}

/// One compared tensor.
public struct TensorCheck: Sendable {
    public let caseName: String
    public let file: String
    public let name: String
    public let maxAbsolute: Double
    /// max |a − g| / max |g|.
    public let relative: Double
    public let tolerance: Tolerance
    public let passed: Bool
    /// Why it failed without numbers (shape mismatch, not computed).
    public let note: String?

    public var line: String {
        let status = passed ? "PASS" : "FAIL"
        let label = "\(caseName)/\(file) \(name)"
        if let note { return "\(status)  \(label): \(note)" }
        return "\(status)  \(label)  max abs \(Self.format(maxAbsolute))  rel \(Self.format(relative))  (\(tolerance))"
    }

    static func format(_ v: Double) -> String {
        if v == 0 { return "0" }
        if !v.isFinite { return "\(v)" }
        var s = String(format: "%.2e", v)
        if s.hasPrefix("+") { s.removeFirst() }
        return s
    }

    /// Compares `computed` with `golden` (both as float values; NaN anywhere fails).
    static func compare(caseName: String, file: String, name: String, computed: [Float], computedShape: [Int],
                        golden: [Float], goldenShape: [Int], tolerance: Tolerance) -> TensorCheck {
        guard computedShape == goldenShape else {
            return TensorCheck(caseName: caseName, file: file, name: name, maxAbsolute: .infinity, relative: .infinity,
                               tolerance: tolerance, passed: false,
                               note: "shape \(Shape.describe(computedShape)), golden \(Shape.describe(goldenShape))")
        }
        var maxAbs = 0.0, scale = 0.0, differing = 0
        var finite = true
        for (a, g) in zip(computed, golden) {
            let d = abs(Double(a) - Double(g))
            if !d.isFinite { finite = false }
            maxAbs = max(maxAbs, d)
            scale = max(scale, abs(Double(g)))
            if d > 0 { differing += 1 }
        }
        let relative = scale > 0 ? maxAbs / scale : maxAbs
        let passed: Bool
        switch tolerance {
        case .relative(let b): passed = finite && relative <= b
        case .absolute(let b): passed = finite && maxAbs <= b
        case .integers(let d, let f):
            passed = finite && maxAbs <= d && Double(differing) <= f * Double(max(golden.count, 1))
        }
        return TensorCheck(caseName: caseName, file: file, name: name, maxAbsolute: maxAbs, relative: relative,
                           tolerance: tolerance, passed: passed, note: finite ? nil : "non-finite values")
    }
}

/// What `ReferenceChecker` found.
public struct ReferenceReport: Sendable {
    public let checks: [TensorCheck]
    public var failures: [TensorCheck] { checks.filter { !$0.passed } }
    public var passed: Bool { !checks.isEmpty && failures.isEmpty }
}

/// A manifest or golden file that cannot be used.
public enum ReferenceCheckError: Error, Sendable, CustomStringConvertible {
    case manifest(String, String)
    case golden(String, String)

    public var description: String {
        switch self {
        case .manifest(let path, let message): "\(path): \(message)"
        case .golden(let path, let message): "\(path): \(message)"
        }
    }
}
