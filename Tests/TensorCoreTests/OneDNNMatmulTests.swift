import TensorStorage
import TestingSupport
import CDNNL
import Testing
import TensorCore
#if canImport(Glibc)
import Glibc
#endif

/// oneDNN batched matmul, attention and the single-threaded GEMM kernel against the reference.
@Suite("OneDNN matmul and attention")
struct OneDNNMatmulTests {
    typealias Support = OneDNNTestSupport

    @Test("every transpose combination, alpha, batch dimensions", arguments: [false, true], [false, true])
    func matmul(transposeA: Bool, transposeB: Bool) throws {
        let backend = try Support.backend.get()
        var rng = Support.Random(seed: transposeA ? (transposeB ? 33 : 32) : (transposeB ? 31 : 30))
        let (m, k, n) = (5, 19, 6)
        for batch in [[3], [], [2, 2]] {
            let a = try rng.tensor(batch + (transposeA ? [k, m] : [m, k]))
            let b = try rng.tensor(batch + (transposeB ? [n, k] : [k, n]))
            for alpha: Float in [1, 0.37] {
                let got = try backend.matmul(a, b, transposeA: transposeA, transposeB: transposeB, alpha: alpha, precision: .f32)
                let want = try Support.reference.matmul(a, b, transposeA: transposeA, transposeB: transposeB, alpha: alpha, precision: .f32)
                #expect(got.shape == batch + [m, n])
                #expect(Support.relativeError(got, want) < Support.f32Tolerance, "batch \(batch) alpha \(alpha)")
            }
            let got = try backend.matmul(a, b, transposeA: transposeA, transposeB: transposeB, alpha: 0.5, precision: .bf16)
            let wantBF16 = try Support.reference.matmul(a, b, transposeA: transposeA, transposeB: transposeB, alpha: 0.5, precision: .bf16)
            let wantF32 = try Support.reference.matmul(a, b, transposeA: transposeA, transposeB: transposeB, alpha: 0.5, precision: .f32)
            #expect(Support.relativeError(got, wantBF16) < Support.bf16VersusBF16Tolerance)
            #expect(Support.relativeError(got, wantF32) < Support.bf16VersusF32Tolerance)
        }
    }

    @Test("matmul rejects bad shapes like the reference")
    func matmulShapes() throws {
        let backend = try Support.backend.get()
        var rng = Support.Random(seed: 34)
        let pairs: [([Int], [Int])] = [([2, 3], [4, 5]), ([2, 2, 3], [3, 3, 4]), ([3], [3, 4])]
        for (sa, sb) in pairs {
            let a = try rng.tensor(sa), b = try rng.tensor(sb)
            let e = Support.error { try backend.matmul(a, b, transposeA: false, transposeB: false, alpha: 1, precision: .f32) }
            #expect(e != nil)
            #expect(e == Support.error { try Support.reference.matmul(a, b, transposeA: false, transposeB: false, alpha: 1, precision: .f32) })
        }
        #expect(try backend.matmul(Tensor(zeros: [0, 3]), Tensor(zeros: [3, 2])).shape == [0, 2])
        #expect(try backend.matmul(Tensor(zeros: [2, 0]), Tensor(zeros: [0, 2])).scalars == [0, 0, 0, 0])
    }

    /// The tiled kernel rescales partial softmax sums as it walks the keys (online softmax),
    /// a different order of operations from the reference's three passes: 1e-4 leaves room
    /// for that and for a vectorised exponential.
    static let attentionTolerance: Float = 1e-4

    @Test("attention matches the reference, short and long sequences, several heads",
          arguments: [(2, 5, 7, 3, 8), (1, 64, 300, 2, 16), (2, 33, 33, 4, 12)])
    func attention(shape: (batch: Int, lq: Int, lk: Int, heads: Int, d: Int)) throws {
        let backend = try Support.backend.get()
        var rng = Support.Random(seed: UInt64(40 + shape.lk))
        let width = shape.heads * shape.d
        let q = try rng.tensor([shape.batch, shape.lq, width])
        let k = try rng.tensor([shape.batch, shape.lk, width])
        let v = try rng.tensor([shape.batch, shape.lk, width])
        let scale = 1 / Float(shape.d).squareRoot()
        let got = try backend.attention(q: q, k: k, v: v, heads: shape.heads, scale: scale, precision: .f32)
        let want = try Support.reference.attention(q: q, k: k, v: v, heads: shape.heads, scale: scale, precision: .f32)
        #expect(got.shape == want.shape)
        #expect(Support.relativeError(got, want) < Self.attentionTolerance)
        // bf16: the kernel may also round the probabilities to bf16 before multiplying by V,
        // which the reference does not, so both comparisons are at bf16's 1e-2.
        let gotBF16 = try backend.attention(q: q, k: k, v: v, heads: shape.heads, scale: scale, precision: .bf16)
        let wantBF16 = try Support.reference.attention(q: q, k: k, v: v, heads: shape.heads, scale: scale, precision: .bf16)
        #expect(Support.relativeError(gotBF16, wantBF16) < Support.bf16VersusF32Tolerance)
        #expect(Support.relativeError(gotBF16, want) < Support.bf16VersusF32Tolerance)
    }

    @Test("attention rejects bad shapes like the reference")
    func attentionShapes() throws {
        let backend = try Support.backend.get()
        var rng = Support.Random(seed: 50)
        let cases: [([Int], [Int], [Int], Int)] = [
            ([1, 4, 6], [1, 5, 6], [1, 5, 6], 4), // width not a multiple of heads
            ([1, 4, 6], [1, 5, 6], [1, 4, 6], 2), // k and v disagree
            ([1, 4, 6], [2, 5, 6], [2, 5, 6], 2), // batch
            ([4, 6], [5, 6], [5, 6], 2),          // rank
            ([1, 4, 6], [1, 0, 6], [1, 0, 6], 2), // no keys
        ]
        for (sq, sk, sv, heads) in cases {
            let q = try rng.tensor(sq), k = try rng.tensor(sk), v = try rng.tensor(sv)
            let e = Support.error { try backend.attention(q: q, k: k, v: v, heads: heads, scale: 1, precision: .f32) }
            #expect(e != nil)
            #expect(e == Support.error { try Support.reference.attention(q: q, k: k, v: v, heads: heads, scale: 1, precision: .f32) })
        }
    }

    @Test("the single-threaded GEMM matches the reference kernel: transposes, leading dimensions, alpha, beta")
    func gemmKernel() throws {
        var rng = Support.Random(seed: 60)
        let gemm = OneDNNBackend.singleThreadedGEMM
        let (m, n, k) = (13, 9, 21)
        for tA in [false, true] {
            for tB in [false, true] {
                // Padded leading dimensions: the operands are windows of wider matrices.
                let lda = (tA ? m : k) + 3, ldb = (tB ? k : n) + 2, ldc = n + 5
                let a = try rng.tensor([tA ? k : m, lda]), b = try rng.tensor([tB ? n : k, ldb])
                let c0 = try rng.tensor([m, ldc])
                var got = c0, want = c0
                a.withUnsafeBufferPointer { pa in
                    b.withUnsafeBufferPointer { pb in
                        got.withUnsafeMutableBufferPointer { pc in
                            gemm.run(tA, tB, m, n, k, 0.75, pa.baseAddress!, lda, pb.baseAddress!, ldb, 0.5, pc.baseAddress!, ldc)
                        }
                        want.withUnsafeMutableBufferPointer { pc in
                            GEMMKernel.reference.run(tA, tB, m, n, k, 0.75, pa.baseAddress!, lda, pb.baseAddress!, ldb, 0.5, pc.baseAddress!, ldc)
                        }
                    }
                }
                #expect(Support.relativeError(got, want) < Support.f32Tolerance, "tA \(tA) tB \(tB)")
            }
        }
    }

    @Test("the GEMM is correct from concurrent Parallel workers")
    func gemmFromWorkers() throws {
        var rng = Support.Random(seed: 61)
        let (blocks, m, n, k) = (8, 32, 24, 40)
        let a = try rng.tensor([blocks, m, k]), b = try rng.tensor([k, n])
        var got = Tensor(zeros: [blocks, m, n])
        let want = try Support.reference.matmul(a, try b.reshaped([1, k, n]).broadcastedForTest(blocks))
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                got.withUnsafeMutableBufferPointer { pc in
                    let shared = UncheckedSendable((pa.baseAddress!, pb.baseAddress!, pc.baseAddress!))
                    Parallel.forEach(blocks) { i in
                        let (a, b, c) = shared.value
                        OneDNNBackend.singleThreadedGEMM.run(false, false, m, n, k, 1, a + i * m * k, k, b, n, 0, c + i * m * n, n)
                    }
                }
            }
        }
        #expect(Support.relativeError(got, want) < Support.f32Tolerance)
    }

    /// CPU time of the calling thread only.
    static func threadCPUTime() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    @Test("the GEMM really stays on the calling thread and restores its OpenMP setting",
          .enabled(if: Threading.availableCPUs >= 2, "needs 2 CPUs: on one, a team of two cannot be told apart from one thread"))
    func gemmSingleThreaded() throws {
        // 1024³: large enough that waking the team's second thread (passive wait policy) is a
        // small part of the work; at 512³ the team's calling-thread time varied 4–6 ms against
        // 8 ms pinned, close enough to the 1.4× bound to fail one run in three.
        let (m, n, k) = (1024, 1024, 1024)
        var rng = Support.Random(seed: 62)
        let a = try rng.tensor([m, k]), b = try rng.tensor([k, n])
        var c = Tensor(zeros: [m, n])
        // The calling thread's CPU time for a GEMM: all of the work when it runs alone, about
        // half of it when an OpenMP team of two shares it (whatever else the machine is doing,
        // since only this thread's running time counts). Minimum of a few runs.
        func cpuTime(_ body: (UnsafePointer<Float>, UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void) -> Double {
            var best = Double.infinity
            for _ in 0..<5 {
                a.withUnsafeBufferPointer { pa in
                    b.withUnsafeBufferPointer { pb in
                        c.withUnsafeMutableBufferPointer { pc in
                            let t0 = Self.threadCPUTime()
                            for _ in 0..<2 { body(pa.baseAddress!, pb.baseAddress!, pc.baseAddress!) }
                            best = min(best, Self.threadCPUTime() - t0)
                        }
                    }
                }
            }
            return best
        }
        let saved = OpenMP.maxThreads()
        OpenMP.setNumThreads(2)
        defer { OpenMP.setNumThreads(saved) }
        let single = cpuTime { a, b, c in
            OneDNNBackend.singleThreadedGEMM.run(false, false, m, n, k, 1, a, k, b, n, 0, c, n)
        }
        #expect(OpenMP.maxThreads() == 2, "the kernel must restore the caller's OpenMP thread count")
        // The same oneDNN routine called directly, which does use the caller's team of two.
        let team = cpuTime { a, b, c in
            _ = dnnl_sgemm(78, 78, Int64(m), Int64(n), Int64(k), 1, a, Int64(k), b, Int64(n), 0, c, Int64(n))
        }
        print("dnnl_sgemm 1024³ ×2 calling-thread CPU: pinned \(single * 1e3) ms, team of 2 \(team * 1e3) ms")
        #expect(single > 1.4 * team, "pinned \(single) s vs team \(team) s")
    }
}

extension Tensor {
    /// `[1, k, n]` repeated `count` times (test helper for batched reference products).
    fileprivate func broadcastedForTest(_ count: Int) throws -> Tensor {
        let one = scalars
        return try Tensor(shape: [count] + shape.dropFirst(), scalars: Array((0..<count).map { _ in one }.joined()))
    }
}
