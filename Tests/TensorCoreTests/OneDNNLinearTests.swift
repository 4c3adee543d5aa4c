import TensorStorage
import TestingSupport
import Testing
import TensorCore

/// oneDNN Linear layers against the reference loops (tolerances: see `OneDNNTestSupport`).
@Suite("OneDNN linear")
struct OneDNNLinearTests {
    typealias Support = OneDNNTestSupport

    @Test("fp32 matches the reference for every weight dtype, with and without bias, M = 1, 7, 64 on one operator",
          arguments: [DType.f32, .f16, .bf16], [true, false])
    func matchesReference(dtype: DType, withBias: Bool) throws {
        let backend = try Support.backend.get()
        var rng = Support.Random(seed: 1)
        let w = try rng.weight([29, 37], dtype: dtype) // widths that are not multiples of 8
        let b = withBias ? try rng.weight([29], dtype: dtype) : nil
        let op = try backend.makeLinear(weight: w, bias: b, precision: .f32)
        let ref = try Support.reference.makeLinear(weight: w, bias: b, precision: .f32)
        #expect(op.inFeatures == 37 && op.outFeatures == 29)
        for shape in [[1, 37], [7, 37], [2, 32, 37], [7, 37]] { // M = 1, 7, 64, and 7 again (cached plan)
            let x = try rng.tensor(shape)
            let got = try op(x)
            let want = try ref(x)
            #expect(got.shape == Array(shape.dropLast()) + [29])
            #expect(Support.relativeError(got, want) < Support.f32Tolerance, "M \(shape.dropLast().reduce(1, *))")
        }
    }

    @Test("the weights are packed once and shared by the primitives of every row count")
    func packedOnce() throws {
        let backend = try Support.backend.get()
        var rng = Support.Random(seed: 2)
        let op = try #require(try backend.makeLinear(weight: try rng.weight([48, 64]), bias: try rng.weight([48]),
                                                     precision: .f32) as? OneDNNLinear)
        for rows in [1, 3, 64, 200, 1] { _ = try op(try rng.tensor([rows, 64])) }
        let layouts = op.packedLayoutCount
        for rows in [1, 3, 64, 200] { _ = try op(try rng.tensor([rows, 64])) }
        print("oneDNN linear 64→48: \(try op.implementation(rows: 1)) (M 1), \(try op.implementation(rows: 200)) (M 200); \(layouts) packed layout(s)")
        #expect(layouts >= 1)
        #expect(op.packedLayoutCount == layouts, "a layout is packed once, not per call")
        // On AVX2 oneDNN's gemm-based matmul reads plain weights for every M (AVX-512's
        // blocked kernels may want another blocking for small M, packed once more).
        if backend.isa == "avx2" { #expect(layouts == 1) }
    }

    @Test("bf16 matches the reference in bf16, and fp32 to bf16 accuracy", arguments: [DType.f32, .bf16])
    func bf16(dtype: DType) throws {
        let backend = try Support.backend.get()
        var rng = Support.Random(seed: 3)
        let w = try rng.weight([40, 72], dtype: dtype)
        let b = try rng.weight([40])
        let op = try backend.makeLinear(weight: w, bias: b, precision: .bf16)
        let expected = try Support.bf16Reference(weight: w)
        let refBF16 = try Support.reference.makeLinear(weight: expected.weight, bias: b, precision: expected.precision)
        let refF32 = try Support.reference.makeLinear(weight: w, bias: b, precision: .f32)
        print("oneDNN linear bf16: \(backend.runsBF16Natively ? "bf16 kernels" : "bf16 weights widened for fp32 kernels")")
        for rows in [1, 7, 64] {
            let x = try rng.tensor([rows, 72])
            let got = try op(x)
            #expect(Support.relativeError(got, try refBF16(x)) < Support.bf16VersusBF16Tolerance)
            #expect(Support.relativeError(got, try refF32(x)) < Support.bf16VersusF32Tolerance)
        }
    }

    @Test("bad shapes throw the reference backend's errors")
    func badShapes() throws {
        let backend = try Support.backend.get()
        var rng = Support.Random(seed: 4)
        let w = try rng.weight([5, 3])
        let op = try backend.makeLinear(weight: w, bias: nil, precision: .f32)
        let ref = try Support.reference.makeLinear(weight: w, bias: nil, precision: .f32)
        for shape in [[2, 4], [4], [2, 3, 2]] {
            let x = try rng.tensor(shape)
            let e = Support.error { try op(x) }
            #expect(e != nil)
            #expect(e == Support.error { try ref(x) })
        }
        let scalar = try Tensor(shape: [], scalars: [1])
        #expect(Support.error { try op(scalar) } == Support.error { try ref(scalar) })
        for (weight, bias) in [(try rng.weight([5, 3]), try rng.weight([4])), (try rng.weight([5, 3, 1]), nil),
                               (try TensorData(dtype: .i32, shape: [2, 2], storage: ByteStorage(count: 16) { _ in }), nil)] {
            let e = Support.error { try backend.makeLinear(weight: weight, bias: bias, precision: .f32) }
            #expect(e != nil)
            #expect(e == Support.error { try Support.reference.makeLinear(weight: weight, bias: bias, precision: .f32) })
        }
    }

    @Test("empty rows give an empty result")
    func emptyRows() throws {
        let backend = try Support.backend.get()
        var rng = Support.Random(seed: 5)
        let op = try backend.makeLinear(weight: try rng.weight([5, 3]), bias: try rng.weight([5]), precision: .f32)
        #expect(try op(Tensor(zeros: [0, 3])).shape == [0, 5])
    }
}
