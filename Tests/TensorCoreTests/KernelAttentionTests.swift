import TensorStorage
import TestingSupport
import Testing
@testable import TensorCore

/// Tiled (online-softmax) and short-sequence attention against float64 fixtures and the naive
/// reference backend. Uses `GEMMKernel.reference`: the kernel is generic over the GEMM.
@Suite struct KernelsAttentionTests {
    static let fixture = Result { try Fixture("kernels") }

    /// fp32: float64 references; the only error sources are fp32 dot products over d ≤ 24 and
    /// the ~1.5 ulp vector exp, so 1e-5 relative (max-abs error / max-abs value) holds.
    let tolerance: Float = 1e-5

    /// Tilings that force each path: tiny blocks (many query tiles, many key blocks so the
    /// online rescaling runs), the default, and the GEMM-free short path where it applies.
    static let tiled = TiledAttention.Tiling(queryBlock: 7, keyBlock: 13, shortKeyLimit: 0)
    static let tiledDefault = TiledAttention.Tiling(shortKeyLimit: 0)
    static let short = TiledAttention.Tiling(shortKeyLimit: 1 << 20)

    func run(_ f: Fixture, _ name: String, tiling: TiledAttention.Tiling, precision: Precision = .f32) throws -> Tensor {
        let q = try f.tensor("\(name).q"), k = try f.tensor("\(name).k"), v = try f.tensor("\(name).v")
        let heads = try f.integers("\(name).heads")[0]
        let d = q.shape[2] / heads
        return try TiledAttention.run(q: q, k: k, v: v, heads: heads, scale: 1 / Float(d).squareRoot(),
                                      precision: precision, gemm: .reference, tiling: tiling)
    }

    @Test(arguments: ["att_a", "att_b", "att_c", "att_s", "att_s2"])
    func matchesFloat64(_ name: String) throws {
        let f = try Self.fixture.get()
        let want = try f.tensor("\(name).out")
        for tiling in [Self.tiled, Self.tiledDefault, Self.short, .default] {
            let got = try run(f, name, tiling: tiling)
            #expect(Compare.relativeError(got, want) < tolerance, "\(name) with \(tiling)")
        }
    }

    /// bf16: q, k, v and the probabilities are rounded (relative error 2^-9 each). The fixture
    /// rounds q, k, v the same way and is exact otherwise, so what remains is the probability
    /// rounding: a weighted mean of v with weights off by ≤ 0.2 % each, ≈ 1e-3 of max |out|
    /// in the worst element. 4e-3 bounds it; against the fp32 result it is the ~3.5e-3 of
    /// PERF.md plus that, under 2e-2.
    @Test(arguments: ["att_b", "att_s"])
    func bf16MatchesRoundedOperands(_ name: String) throws {
        let f = try Self.fixture.get()
        let want = try f.tensor("\(name).out_bf16"), fp32 = try f.tensor("\(name).out")
        for tiling in [Self.tiled, Self.tiledDefault, Self.short] {
            let got = try run(f, name, tiling: tiling, precision: .bf16)
            #expect(Compare.relativeError(got, want) < 4e-3, "\(name) with \(tiling)")
            #expect(Compare.relativeError(got, fp32) < 2e-2, "\(name) with \(tiling)")
            #expect(Compare.relativeError(got, fp32) > 1e-5, "bf16 should not be exact")
        }
    }

    @Test func longSequenceTiledMatchesNaive() throws {
        // 700 × 700: 10 query tiles × 6 key blocks with online rescaling, 2 heads.
        let (b, l, heads, d) = (1, 700, 2, 16)
        let q = Compare.random([b, l, heads * d], seed: 21, in: -2 ... 2)
        let k = Compare.random([b, l, heads * d], seed: 22, in: -2 ... 2)
        let v = Compare.random([b, l, heads * d], seed: 23)
        let want = try ReferenceBackend().attention(q: q, k: k, v: v, heads: heads, scale: 0.25, precision: .f32)
        let tiling = TiledAttention.Tiling(queryBlock: 70, keyBlock: 128, shortKeyLimit: 0)
        let got = try TiledAttention.run(q: q, k: k, v: v, heads: heads, scale: 0.25, precision: .f32,
                                         gemm: .reference, tiling: tiling)
        #expect(Compare.relativeError(got, want) < tolerance)
    }

    @Test func shortPathMatchesNaiveOnOddSizes() throws {
        // Many tiny problems (temporal attention shape, scaled down), odd head dim, Lq ≠ Lk,
        // and a single (batch, head) so that the query rows are split across workers.
        for (b, lq, lk, heads, d) in [(40, 16, 16, 3, 64), (5, 13, 9, 2, 7), (1, 70, 33, 1, 12)] {
            let q = Compare.random([b, lq, heads * d], seed: 31, in: -2 ... 2)
            let k = Compare.random([b, lk, heads * d], seed: 32, in: -2 ... 2)
            let v = Compare.random([b, lk, heads * d], seed: 33)
            let scale = 1 / Float(d).squareRoot()
            let want = try ReferenceBackend().attention(q: q, k: k, v: v, heads: heads, scale: scale, precision: .f32)
            let got = try TiledAttention.run(q: q, k: k, v: v, heads: heads, scale: scale, precision: .f32, gemm: .reference)
            #expect(Compare.relativeError(got, want) < tolerance, "\((b, lq, lk, heads, d))")
        }
    }

    @Test func rejectsBadShapes() {
        let q = Tensor(zeros: [2, 5, 12]), k = Tensor(zeros: [2, 6, 12])
        #expect(throws: TensorError.self) {
            try TiledAttention.run(q: q, k: k, v: Tensor(zeros: [2, 7, 12]), heads: 2, scale: 1, precision: .f32, gemm: .reference)
        }
        #expect(throws: TensorError.self) {
            try TiledAttention.run(q: q, k: k, v: k, heads: 5, scale: 1, precision: .f32, gemm: .reference)
        }
        #expect(throws: TensorError.self) {
            try TiledAttention.run(q: q, k: Tensor(zeros: [1, 6, 12]), v: Tensor(zeros: [1, 6, 12]), heads: 2, scale: 1,
                                   precision: .f32, gemm: .reference)
        }
        #expect(throws: TensorError.self) {
            try TiledAttention.run(q: q, k: k, v: k, heads: 2, scale: 1, precision: .f32, gemm: .reference,
                                   tiling: .init(queryBlock: 0, keyBlock: 4, shortKeyLimit: 0))
        }
    }
}
