import TensorStorage
import TestingSupport
import Testing
import TensorCore

/// `addingTo:` — residual connections that the backend adds while it writes (oneDNN's sum
/// post-op on the matmul or convolution, or on the reorder back to channels-last) — against
/// the plain output plus a separate add, on every backend.
@Suite("residual adds")
struct ResidualAddTests {
    typealias Support = OneDNNTestSupport

    static func backends() throws -> [any ComputeBackend] {
        [try Support.backend.get(), Support.reference] + ((try? ComputeBackends.make(.openblas)).map { [$0] } ?? [])
    }

    @Test("Linear: whole residual and a block of rows; the other rows untouched")
    func linear() throws {
        var rng = TestRandom(seed: 31)
        let w = try rng.weight([19, 13]), b = try rng.weight([19])
        let x = try rng.tensor([2, 5, 13])
        for backend in try Self.backends() {
            let op = try backend.makeLinear(weight: w, bias: b, precision: .f32)
            let plain = try op.callAsFunction(x)
            let residual = try rng.tensor([2, 5, 19])
            var summed = residual
            try op.callAsFunction(x, addingTo: &summed)
            var expected = residual
            try Kernels.addInPlace(&expected, plain)
            // Same products, and a + b == b + a in IEEE arithmetic; a primitive made with the
            // post-op may block its K loop differently, so allow float32 rounding of outputs
            // of magnitude ≲ 5 (13 products of values in [-1, 1], plus the residual): ~4 ulp.
            #expect(Compare.maxAbsError(summed, expected) <= 1e-6, "\(backend.kind)")

            // Rows 4 ..< 14 of a [20, 19] residual: the rest keeps its values exactly.
            let big = try rng.tensor([20, 19])
            var partial = big
            try op.callAsFunction(x, addingTo: &partial, atRow: 4)
            let before = big.scalars, after = partial.scalars, added = plain.scalars
            for r in 0 ..< 20 {
                for c in 0 ..< 19 {
                    let i = r * 19 + c
                    if (4 ..< 14).contains(r) {
                        #expect(abs(after[i] - (before[i] + added[(r - 4) * 19 + c])) <= 1e-6)
                    } else {
                        #expect(after[i] == before[i], "row \(r) changed (\(backend.kind))")
                    }
                }
            }
            // Rows past the end, a wrong width: refused before anything is written.
            var short = try rng.tensor([12, 19])
            let untouched = short
            #expect(throws: TensorError.self) { try op.callAsFunction(x, addingTo: &short, atRow: 3) }
            #expect(short.scalars == untouched.scalars)
            var wrong = try rng.tensor([2, 5, 18])
            #expect(throws: TensorError.self) { try op.callAsFunction(x, addingTo: &wrong) }
        }
    }

    @Test("Linear: a residual shared with another tensor is copied, not changed under it")
    func linearCopyOnWrite() throws {
        var rng = TestRandom(seed: 32)
        let op = try Support.backend.get().makeLinear(weight: try rng.weight([8, 8]), bias: nil, precision: .f32)
        let x = try rng.tensor([3, 8])
        let original = try rng.tensor([3, 8])
        let values = original.scalars
        var residual = original
        try op.callAsFunction(x, addingTo: &residual)
        #expect(residual.scalars != values)
        #expect(original.scalars == values)
    }

    @Test("convolution: 3x3, 1x1, strided and temporal, fp32 and bf16, every algorithm", arguments: [
        (Conv2dGeometry.square(3, stride: 1, padding: 1), [2, 9, 11, 16], 24),
        (Conv2dGeometry.square(1), [3, 5, 6, 24], 10),
        (Conv2dGeometry.square(3, stride: 2, padding: 1), [2, 9, 11, 13], 21),
        (Conv2dGeometry.temporal3, [2, 5, 6, 20], 12),
    ])
    func convolution(geometry: Conv2dGeometry, input: [Int], out: Int) throws {
        var rng = TestRandom(seed: 33)
        let w = try rng.weight([out, input[3], geometry.kernelH, geometry.kernelW], scale: 0.5)
        let b = try rng.weight([out])
        let x = try rng.tensor(input)
        for backend in try Self.backends() {
            for precision in [Precision.f32, .bf16] {
                for algorithm in ConvAlgorithm.allCases {
                    let op = try backend.makeConv2d(weight: w, bias: b, geometry: geometry, precision: precision,
                                                    algorithm: algorithm)
                    let plain = try op.callAsFunction(x)
                    let residual = try rng.tensor(plain.shape)
                    var summed = residual
                    try op.callAsFunction(x, addingTo: &summed)
                    var expected = residual
                    try Kernels.addInPlace(&expected, plain)
                    // As for Linear, with up to 9·24 products per output (magnitude ≲ 30): a
                    // different accumulation order moves the float32 result by a few ulp.
                    #expect(Compare.maxAbsError(summed, expected) <= 1e-5,
                            "\(backend.kind) \(precision) \(algorithm) \(geometry)")
                    var wrong = Tensor(zeros: Array(plain.shape.dropLast()) + [out + 1]) // one channel too many
                    #expect(throws: TensorError.self) { try op.callAsFunction(x, addingTo: &wrong) }
                }
            }
        }
    }

    @Test("the FLOP counter sees residual calls like plain ones")
    func counted() throws {
        var rng = TestRandom(seed: 34)
        let counter = FLOPCounter()
        let backend = CountingBackend(wrapping: try Support.backend.get(), counter: counter)
        let op = try backend.makeLinear(weight: try rng.weight([6, 4]), bias: nil, precision: .f32)
        var residual = Tensor(zeros: [5, 6])
        try op.callAsFunction(try rng.tensor([5, 4]), addingTo: &residual)
        try op.callAsFunction(try rng.tensor([2, 4]), addingTo: &residual, atRow: 1)
        #expect(counter.snapshot().total.calls == 2)
        #expect(counter.snapshot().total.flops == 2 * 7 * 4 * 6)
    }
}
