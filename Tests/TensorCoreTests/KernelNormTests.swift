import TensorStorage
import TestingSupport
import Testing
@testable import TensorCore

/// GroupNorm, LayerNorm and softmax against float64 fixtures and their plain twins.
@Suite struct KernelsNormTests {
    static let fixture = Result { try Fixture("kernels") }

    // Float64 statistics rounded once per output: PyTorch fp32 agrees to ~1e-6; 1e-5 relative
    // (max-abs error / max-abs value) is the README's bound for single modules.
    let tolerance: Float = 1e-5

    @Test func groupNormMatchesFloat64() throws {
        let f = try Self.fixture.get()
        let xa = try f.tensor("gn_a.x"), wa = try f.tensor("gn_a.weight"), ba = try f.tensor("gn_a.bias")
        for op in [Kernels.groupNorm, Kernels.Reference.groupNorm] {
            #expect(Compare.relativeError(try op(xa, 4, 1e-5, wa, ba, false), try f.tensor("gn_a.y")) < tolerance)
            #expect(Compare.relativeError(try op(xa, 4, 1e-5, wa, ba, true), try f.tensor("gn_a.y_silu")) < tolerance)
            #expect(Compare.relativeError(try op(try f.tensor("gn_b.x"), 32, 1e-6, nil, nil, false), try f.tensor("gn_b.y")) < tolerance)
            let yc = try op(try f.tensor("gn_c.x"), 32, 1e-6, try f.tensor("gn_c.weight"), try f.tensor("gn_c.bias"), true)
            #expect(Compare.relativeError(yc, try f.tensor("gn_c.y_silu")) < tolerance)
        }
    }

    @Test(arguments: [
        ([1, 5000, 24], 8),      // one sample, many cache blocks and worker chunks
        ([3, 7, 9, 40], 4),      // 10 channels per group, 2-D spatial
        ([2, 16, 4, 4, 64], 32), // a video [B, T, H, W, C]: the frame-joint statistics
        ([4, 33], 11),           // no spatial axes, odd channel count (tails)
    ])
    func groupNormOptimisedMatchesReference(shape: [Int], groups: Int) throws {
        let c = shape.last!
        let x = Compare.random(shape, seed: UInt64(shape.reduce(0, +)), in: -3 ... 5)
        let w = Compare.random([c], seed: 5, in: 0.5 ... 1.5), b = Compare.random([c], seed: 6)
        for silu in [false, true] {
            let fast = try Kernels.groupNorm(x, groups: groups, eps: 1e-6, weight: w, bias: b, silu: silu)
            let slow = try Kernels.Reference.groupNorm(x, groups: groups, eps: 1e-6, weight: w, bias: b, silu: silu)
            #expect(Compare.relativeError(fast, slow) < tolerance)
        }
    }

    @Test func frameJointDiffersFromPerFrame() throws {
        // [B, T, S, C] normalised jointly is not the per-frame norm on [B·T, S, C].
        let x = Compare.random([2, 4, 6, 32], seed: 9)
        let joint = try Kernels.groupNorm(x, groups: 32, eps: 1e-6, weight: nil, bias: nil)
        let perFrame = try Kernels.groupNorm(x.reshaped([8, 6, 32]), groups: 32, eps: 1e-6, weight: nil, bias: nil)
        #expect(Compare.maxAbsError(joint, try perFrame.reshaped([2, 4, 6, 32])) > 1e-3)
    }

    @Test func groupNormRejectsBadShapes() {
        let x = Tensor(zeros: [2, 4, 30])
        #expect(throws: TensorError.self) { try Kernels.groupNorm(x, groups: 4, eps: 1e-5, weight: nil, bias: nil) }
        #expect(throws: TensorError.self) { try Kernels.groupNorm(x, groups: 0, eps: 1e-5, weight: nil, bias: nil) }
        #expect(throws: TensorError.self) { try Kernels.groupNorm(Tensor(zeros: [30]), groups: 3, eps: 1e-5, weight: nil, bias: nil) }
        #expect(throws: TensorError.self) {
            try Kernels.groupNorm(x, groups: 3, eps: 1e-5, weight: Tensor(zeros: [31]), bias: nil)
        }
    }

    @Test func layerNormMatchesFloat64() throws {
        let f = try Self.fixture.get()
        for op in [Kernels.layerNorm, Kernels.Reference.layerNorm] {
            let ya = try op(try f.tensor("ln_a.x"), try f.tensor("ln_a.weight"), try f.tensor("ln_a.bias"), 1e-5)
            #expect(Compare.relativeError(ya, try f.tensor("ln_a.y")) < tolerance)
            let yb = try op(try f.tensor("ln_b.x"), nil, nil, 1e-5)
            #expect(Compare.relativeError(yb, try f.tensor("ln_b.y")) < tolerance)
        }
        let x = Compare.random([37, 1283], seed: 3, in: -2 ... 6)
        let w = Compare.random([1283], seed: 4), b = Compare.random([1283], seed: 5)
        #expect(Compare.relativeError(try Kernels.layerNorm(x, weight: w, bias: b, eps: 1e-5),
                                      try Kernels.Reference.layerNorm(x, weight: w, bias: b, eps: 1e-5)) < tolerance)
        #expect(throws: TensorError.self) { try Kernels.layerNorm(x, weight: Tensor(zeros: [12]), bias: nil, eps: 1e-5) }
    }

    @Test func softmaxMatchesFloat64() throws {
        let f = try Self.fixture.get()
        let x = try f.tensor("softmax.x")
        #expect(Compare.relativeError(try Kernels.softmax(x), try f.tensor("softmax.y")) < tolerance)
        #expect(Compare.relativeError(try Kernels.softmax(x, scale: 0.7), try f.tensor("softmax.y_scaled")) < tolerance)
        #expect(Compare.relativeError(try Kernels.Reference.softmax(x, scale: 0.7), try f.tensor("softmax.y_scaled")) < tolerance)
        let big = Compare.random([301, 77], seed: 8, in: -30 ... 30)
        #expect(Compare.relativeError(try Kernels.softmax(big, scale: -0.5), try Kernels.Reference.softmax(big, scale: -0.5)) < tolerance)
        #expect(throws: TensorError.self) { try Kernels.softmax(Tensor(zeros: [3, 0])) }
    }
}
