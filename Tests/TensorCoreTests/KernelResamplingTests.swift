import TensorStorage
import TestingSupport
import Testing
@testable import TensorCore

/// Upsampling, pooling, subsampling and the sinusoidal timestep embedding.
@Suite struct KernelsResamplingTests {
    static let fixture = Result { try Fixture("kernels") }

    @Test func nearestUpsampleAndAveragePool() throws {
        let f = try Self.fixture.get()
        let x = try f.tensor("up.x")
        #expect(try Kernels.upsampleNearest2x(x).scalars == (try f.tensor("up.y")).scalars)
        #expect(try Kernels.upsampleNearest2x(x).shape == [2, 6, 10, 4])
        #expect(try Kernels.Reference.upsampleNearest2x(x).scalars == (try f.tensor("up.y")).scalars)
        let p = try f.tensor("pool.x") // 7×9: floor mode drops the last row and column
        let want = try f.tensor("pool.y")
        #expect(Compare.relativeError(try Kernels.avgPool2x(p), want) < 1e-6)
        #expect(Compare.relativeError(try Kernels.Reference.avgPool2x(p), want) < 1e-6)
    }

    @Test func largeResamplingMatchesReference() throws {
        let x = Compare.random([3, 17, 23, 37], seed: 41) // parallel path, odd channel tail
        #expect(try Kernels.upsampleNearest2x(x).scalars == (try Kernels.Reference.upsampleNearest2x(x)).scalars)
        #expect(Compare.relativeError(try Kernels.avgPool2x(x), try Kernels.Reference.avgPool2x(x)) < 1e-6)
        let s = try Kernels.subsample(x, stride: 3)
        #expect(s.shape == [3, 6, 8, 37])
        #expect(s[2, 5, 7, 36] == x[2, 15, 21, 36] && s[1, 2, 3, 4] == x[1, 6, 9, 4])
    }

    @Test func resamplingRejectsBadShapes() {
        #expect(throws: TensorError.self) { try Kernels.upsampleNearest2x(Tensor(zeros: [2, 3, 4])) }
        #expect(throws: TensorError.self) { try Kernels.avgPool2x(Tensor(zeros: [2, 3, 4, 5, 6])) }
        #expect(throws: TensorError.self) { try Kernels.subsample(Tensor(zeros: [1, 4, 4, 2]), stride: 0) }
    }

    /// The fixture is the correctly rounded value of the reference's float32 computation; the
    /// reference itself (vectorised expf/cosf) is within an ulp of it, and so are we.
    @Test(arguments: [320, 33])
    func timestepEmbedding(dim: Int) throws {
        let f = try Self.fixture.get()
        let u = try f.tensor("temb.u").scalars
        let want = try f.tensor("temb\(dim).y")
        let got = try Kernels.timestepEmbedding(u, dim: dim)
        #expect(got.shape == [u.count, dim])
        #expect(Compare.maxAbsError(got, want) < 3e-7)
        let ints = try Kernels.timestepEmbedding(u.map { Int($0) }, dim: dim)
        #expect(ints.scalars == got.scalars)
        #expect(got[0, 0] == 1 && got[0, dim / 2] == 0) // u = 0: cos first
        #expect(throws: TensorError.self) { try Kernels.timestepEmbedding([1], dim: 0) }
    }
}
