import TensorStorage
import Testing
import TensorCore
import TestingSupport

/// Shared pieces of the oneDNN tests (prefixed so they cannot collide with other suites' helpers).
enum OneDNNTestSupport {
    /// One backend for all oneDNN tests: engine creation and the capability probes run once.
    static let backend = Result { try OneDNNBackend() }
    static let reference = ReferenceBackend()

    typealias Random = TestRandom

    static func relativeError(_ a: Tensor, _ reference: Tensor) -> Float {
        TestingSupport.relativeError(a, reference)
    }

    /// The error both backends raise, for comparing messages.
    static func error(_ body: () throws -> Any) -> TensorError? {
        do { _ = try body(); return nil } catch let e as TensorError { return e } catch { return nil }
    }

    // Tolerances (max |a − b| / max |ref|).
    /// fp32 against the reference: the same products summed in another order (blocked, FMA),
    /// a few ulps times √K.
    static let f32Tolerance: Float = 1e-5
    /// bf16 against the reference run in bf16: both round the operands to bf16 identically and
    /// accumulate in fp32 (bf16 × bf16 products are exact in fp32), so only the summation order
    /// differs, as for fp32; 1e-4 leaves room for oneDNN's bf16 kernels, which may order and
    /// block the sums differently again.
    static let bf16VersusBF16Tolerance: Float = 1e-4
    /// bf16 against fp32: bf16 keeps 8 significant bits (relative rounding up to 2⁻⁹ ≈ 2e-3 per
    /// operand), so results move by a few 1e-3.
    static let bf16VersusF32Tolerance: Float = 1e-2

    /// The reference for oneDNN in bf16: weights rounded to bf16 always; activations rounded
    /// too only where oneDNN runs its bf16 kernels (elsewhere it widens bf16-resident weights
    /// for the fp32 kernels and activations stay fp32). Same summation-order tolerance.
    static func bf16Reference(weight: TensorData) throws -> (weight: TensorData, precision: Precision) {
        (try weight.converted(to: .bf16), try backend.get().runsBF16Natively ? .bf16 : .f32)
    }
}

@Suite("OneDNN backend")
struct OneDNNBackendTests {
    @Test("engine starts and reports version, ISA and the paths it runs")
    func summary() throws {
        let backend = try OneDNNTestSupport.backend.get()
        print("oneDNN backend: \(backend.summary)")
        #expect(backend.kind == .onednn)
        #expect(backend.version.hasPrefix("2."))
        #expect(backend.summary.contains(backend.isa))
        #expect(!backend.isa.isEmpty)
        // The probe result is what the operators use.
        var rng = OneDNNTestSupport.Random(seed: 90)
        let linear = try backend.makeLinear(weight: try rng.weight([8, 8]), bias: nil, precision: .bf16)
        #expect((linear as? OneDNNLinear)?.usesNativeBF16 == backend.runsBF16Natively)
        #expect((linear as? OneDNNLinear)?.weightsAreBF16 == true)
    }

    @Test("one operator runs concurrently from many tasks")
    func concurrentCalls() async throws {
        let backend = try OneDNNTestSupport.backend.get()
        var rng = OneDNNTestSupport.Random(seed: 91)
        let linear = try backend.makeLinear(weight: try rng.weight([19, 23]), bias: try rng.weight([19]), precision: .f32)
        let conv = try backend.makeConv2d(weight: try rng.weight([6, 5, 3, 3]), bias: nil, geometry: .square(3, padding: 1),
                                          precision: .f32, algorithm: .auto)
        let inputs = try (0..<8).map { i in try rng.tensor([1 + i, 23]) }
        let images = try (0..<8).map { i in try rng.tensor([1, 4 + i % 3, 5, 5]) }
        // Serial results first; concurrent calls (several plans, streams and scratchpads in
        // flight at once) must reproduce them bit for bit.
        let expectedLinear = try inputs.map { try linear($0) }
        let expectedConv = try images.map { try conv($0) }
        try await withThrowingTaskGroup(of: (Int, Float).self) { group in
            for round in 0..<4 {
                for i in 0..<8 {
                    group.addTask {
                        let y = try linear(inputs[(i + round) % 8])
                        let z = try conv(images[(i + round) % 8])
                        return ((i + round) % 8, max(OneDNNTestSupport.relativeError(y, expectedLinear[(i + round) % 8]),
                                                     OneDNNTestSupport.relativeError(z, expectedConv[(i + round) % 8])))
                    }
                }
            }
            for try await (_, err) in group { #expect(err == 0) }
        }
    }
}
