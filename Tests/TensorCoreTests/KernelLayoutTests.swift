import TensorStorage
import Testing
@testable import TensorCore

/// Permutes, concatenation, slicing and repetition against element-by-element index math.
@Suite struct KernelsLayoutTests {
    @Test(arguments: [
        ([2, 5, 3, 7], [0, 2, 3, 1]),          // NCHW → NHWC
        ([2, 3, 7, 5], [0, 3, 1, 2]),          // NHWC → NCHW
        ([2, 3, 4, 5, 6], [0, 2, 3, 4, 1]),    // NCTHW → NTHWC
        ([2, 4, 5, 6, 3], [0, 4, 1, 2, 3]),    // NTHWC → NCTHW
        ([2, 4, 9, 5], [0, 2, 1, 3]),          // frames ↔ positions, rows stay contiguous
        ([37, 53], [1, 0]),                     // plain transpose with partial tiles
        ([1, 70, 1, 45], [3, 2, 1, 0]),         // size-1 axes dropped
        ([3, 1, 4, 1, 5], [4, 3, 0, 2, 1]),
        ([4, 6, 8], [0, 1, 2]),                 // identity
    ])
    func permuteMatchesIndexMath(shape: [Int], axes: [Int]) throws {
        let x = Compare.random(shape, seed: UInt64(shape.reduce(1, *)))
        let fast = try x.permuted(axes)
        let slow = try Kernels.Reference.permuted(x, axes)
        #expect(fast.shape == slow.shape)
        #expect(fast.scalars == slow.scalars)
    }

    @Test func bigTransposeSplitsAcrossWorkers() throws {
        let x = Compare.random([1, 160, 33, 31], seed: 3) // one plane of 160 × 1023
        let y = try Layout.nchwToNHWC(x)
        #expect(y.scalars == (try Kernels.Reference.permuted(x, [0, 2, 3, 1])).scalars)
        #expect(try Layout.nhwcToNCHW(y).scalars == x.scalars)
        let v = Compare.random([2, 8, 3, 5, 7], seed: 4)
        #expect(try Layout.nthwcToNCTHW(Layout.ncthwToNTHWC(v)).scalars == v.scalars)
        let t = Compare.random([2, 4, 6, 8], seed: 5)
        #expect(try Layout.swapFramesAndPositions(Layout.swapFramesAndPositions(t)).scalars == t.scalars)
    }

    @Test func concatenateSliceRepeat() throws {
        let a = Compare.random([2, 3, 4], seed: 1), b = Compare.random([2, 5, 4], seed: 2)
        let c = try Tensor.concatenated([a, b], along: 1)
        #expect(c.shape == [2, 8, 4])
        for i in 0..<2 { for j in 0..<8 { for k in 0..<4 {
            #expect(c[i, j, k] == (j < 3 ? a[i, j, k] : b[i, j - 3, k]))
        } } }
        #expect(try c.sliced(along: 1, range: 0..<3).scalars == a.scalars)
        #expect(try c.sliced(along: -2, range: 3..<8).scalars == b.scalars)
        let last = try Tensor.concatenated([a, a], along: -1) // channels-last skip concat
        #expect(last.shape == [2, 3, 8] && last[1, 2, 5] == a[1, 2, 1])

        let r = try a.repeated(along: 0, count: 3)
        #expect(r.shape == [6, 3, 4] && r[4, 1, 2] == a[0, 1, 2] && r[5, 2, 3] == a[1, 2, 3])
        let ri = try a.repeatedInterleaved(along: 0, count: 3)
        #expect(ri.shape == [6, 3, 4] && ri[2, 1, 2] == a[0, 1, 2] && ri[3, 2, 3] == a[1, 2, 3])
        let rm = try a.repeatedInterleaved(along: 1, count: 2)
        #expect(rm.shape == [2, 6, 4] && rm[1, 5, 3] == a[1, 2, 3] && rm[0, 1, 0] == a[0, 0, 0])
    }

    @Test func layoutRejectsBadArguments() {
        let a = Tensor(zeros: [2, 3, 4])
        #expect(throws: TensorError.self) { try a.permuted([0, 1]) }
        #expect(throws: TensorError.self) { try a.permuted([0, 1, 1]) }
        #expect(throws: TensorError.self) { try Layout.nchwToNHWC(a) }
        #expect(throws: TensorError.self) { try Tensor.concatenated([a, Tensor(zeros: [2, 4, 4])], along: 2) }
        #expect(throws: TensorError.self) { try Tensor.concatenated([], along: 0) }
        #expect(throws: TensorError.self) { try a.sliced(along: 1, range: 2..<4) }
        #expect(throws: TensorError.self) { try a.sliced(along: 3, range: 0..<1) }
        #expect(throws: TensorError.self) { try a.repeated(along: 0, count: -1) }
    }
}
