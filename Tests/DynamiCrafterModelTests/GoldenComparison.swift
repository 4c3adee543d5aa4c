import TensorCore
import TensorStorage
import TestingSupport
import Testing

/// Collects the taps a forward pass reports.
final class TapRecorder: @unchecked Sendable {
    private(set) var taps: [String: Tensor] = [:]
    func record(_ name: String, _ t: Tensor) { taps[name] = t }
}

/// Compares a result with its golden, prints the error (the figures quoted in notes come from
/// these lines) and expects it within `tolerance` (max |Δ| / max |golden|; 1e-4 by default:
/// fp32 reaches ~1e-6 here, and a real bug shows as 1e-2 or worse).
func expectGoldenClose(_ actual: Tensor?, _ golden: Tensor, _ label: String, tolerance: Float = 1e-4,
                       sourceLocation: SourceLocation = #_sourceLocation) {
    guard let actual else {
        Issue.record("\(label): no value", sourceLocation: sourceLocation)
        return
    }
    guard actual.shape == golden.shape else {
        Issue.record("\(label): shape \(actual.shape), golden \(golden.shape)", sourceLocation: sourceLocation)
        return
    }
    let e = relativeError(actual, golden)
    print("[golden] \(label): relative error \(e)")
    #expect(e <= tolerance, "\(label): relative error \(e)", sourceLocation: sourceLocation)
}
