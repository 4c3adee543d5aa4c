import TensorStorage
import TestingSupport
import Foundation
import Testing
@testable import TensorCore

/// Activations, arithmetic and the vector math under them.
@Suite struct KernelsElementwiseTests {
    static let fixture = Result { try Fixture("kernels") }

    // Float32 results of float64 formulas: 1e-5 relative (max-abs error / max-abs value)
    // leaves room for the ~1–2 ulp vector exp/erfc and nothing else.
    let tolerance: Float = 1e-5

    @Test func siluAndGeluMatchFloat64() throws {
        let f = try Self.fixture.get()
        let x = try f.tensor("act.x")
        let silu = try f.tensor("act.silu"), gelu = try f.tensor("act.gelu")
        #expect(Compare.relativeError(Kernels.silu(x), silu) < tolerance)
        #expect(Compare.relativeError(Kernels.Reference.silu(x), silu) < tolerance)
        #expect(Compare.relativeError(Kernels.gelu(x), gelu) < tolerance)
        #expect(Compare.relativeError(Kernels.Reference.gelu(x), gelu) < tolerance)
        // Elementwise too, absolute: GELU's erfc is a fit with an absolute error bound (see
        // `VectorMath.erfcNonNegative`), like PyTorch's fp32 1 + erf(x/√2), which has no relative
        // accuracy in the negative tail either.
        let g = Kernels.gelu(x).scalars, ge = gelu.scalars
        for i in g.indices {
            #expect(abs(g[i] - ge[i]) <= 1e-6, "gelu(\(x.scalars[i])) = \(g[i]), want \(ge[i])")
        }
        let s = Kernels.silu(x).scalars, se = silu.scalars
        for i in s.indices where abs(se[i]) > 1e-30 {
            #expect(abs(s[i] - se[i]) <= 2e-6 * abs(se[i]), "silu(\(x.scalars[i])) = \(s[i]), want \(se[i])")
        }
    }

    @Test("vector GELU is within 1e-6 absolute of the float64 definition everywhere")
    func geluAbsoluteErrorSweep() {
        var worst = 0.0, at: Float = 0
        var x: Float = -20
        while x < 20 {
            let v = F8((0..<8).map { x + Float($0) * 0.000_31 })
            let y = VectorMath.gelu(v)
            for l in 0..<8 {
                let exact = 0.5 * Double(v[l]) * Foundation.erfc(-Double(v[l]) / 2.0.squareRoot())
                let error = abs(Double(y[l]) - exact)
                if error > worst { worst = error; at = v[l] }
            }
            x += 0.0025
        }
        #expect(worst <= 1e-6, "worst absolute error \(worst) at x = \(at)")
        let special = VectorMath.gelu(F8(0, -.infinity, .infinity, .nan, -30, 30, 1, -1))
        #expect(special[0] == 0 && special[2] == .infinity && special[3].isNaN)
        #expect(special[4] == 0 && special[5] == 30)
    }

    @Test func gegluMatchesFloat64() throws {
        let f = try Self.fixture.get()
        let x = try f.tensor("geglu.x"), y = try f.tensor("geglu.y")
        #expect(Compare.relativeError(try Kernels.geglu(x), y) < tolerance)
        #expect(Compare.relativeError(try Kernels.Reference.geglu(x), y) < tolerance)
        #expect(throws: TensorError.self) { try Kernels.geglu(Tensor(zeros: [3, 5])) }
    }

    @Test func vectorExpIsAccurate() {
        // Sweep the whole finite range; compare with float64 exp.
        var worst: Double = 0
        var x: Float = -87.3
        while x < 88.7 {
            let v = F8((0..<8).map { x + Float($0) * 0.0137 })
            let e = VectorMath.exp(v)
            for l in 0..<8 where Double(v[l]) < 88.7 {
                let want = Foundation.exp(Double(v[l]))
                worst = max(worst, abs(Double(e[l]) - want) / want)
            }
            x += 0.1037
        }
        #expect(worst < 2.5e-7, "worst relative error \(worst)")
        let special = VectorMath.exp(F8(-.infinity, -100, -87.4, 0, 89, .infinity, 1, -1))
        #expect(special[0] == 0 && special[1] == 0 && special[2] == 0 && special[3] == 1)
        #expect(special[4] == .infinity && special[5] == .infinity)
        #expect(abs(special[6] - Float(M_E)) <= Float(M_E).ulp && abs(special[7] - Float(1 / M_E)) <= Float(1 / M_E).ulp)
    }

    @Test func bf16RoundingMatchesScalar() {
        let x = Compare.random([1003], seed: 7, in: -1e4 ... 1e4)
        #expect(Kernels.roundedToBF16(x).scalars == Kernels.Reference.roundedToBF16(x).scalars)
        let v = VectorMath.roundToBF16(F8(.nan, .infinity, -.infinity, 0, 1.00390625, 1.01171875, -3.3e38, 1e-30))
        #expect(v[0].isNaN && v[1] == .infinity && v[2] == -.infinity && v[3] == 0)
        #expect(v[4] == 1 && v[5] == 1.015625) // ties to even, both ways
    }

    @Test func arithmetic() throws {
        let a = Compare.random([3, 5, 7, 19], seed: 1), b = Compare.random([3, 5, 7, 19], seed: 2)
        let bias = Compare.random([19], seed: 3), perSample = Compare.random([3, 19], seed: 4)
        let sum = try Kernels.add(a, b)
        var scaled = a
        try Kernels.addScaledInPlace(&scaled, b, scale: -2.5)
        let biased = try Kernels.addBias(a, bias)
        let sampled = try Kernels.addPerSample(a, perSample)
        let times = Kernels.scaled(a, by: 0.3)
        let (x, y, c, p) = (a.scalars, b.scalars, bias.scalars, perSample.scalars)
        for i in x.indices {
            #expect(sum.scalars[i] == x[i] + y[i])
            #expect(abs(scaled.scalars[i] - (x[i] - 2.5 * y[i])) <= 1e-6)
            #expect(biased.scalars[i] == x[i] + c[i % 19])
            #expect(sampled.scalars[i] == x[i] + p[(i / (5 * 7 * 19)) * 19 + i % 19])
            #expect(times.scalars[i] == x[i] * 0.3)
        }
        #expect(throws: TensorError.self) { try Kernels.add(a, Tensor(zeros: [3, 5, 7, 18])) }
        #expect(throws: TensorError.self) { try Kernels.addBias(a, Tensor(zeros: [18])) }
        #expect(throws: TensorError.self) { try Kernels.addPerSample(a, Tensor(zeros: [2, 19])) }
    }

    @Test func largeMapsSplitAcrossWorkersAndTails() throws {
        // Big enough for the parallel path; odd length for the vector tails.
        let x = Compare.random([100_003], seed: 11, in: -8 ... 8)
        #expect(Compare.relativeError(Kernels.silu(x), Kernels.Reference.silu(x)) < tolerance)
        #expect(Compare.relativeError(Kernels.gelu(x), Kernels.Reference.gelu(x)) < tolerance)
        let g = Compare.random([9, 2 * 1283], seed: 12, in: -5 ... 5)
        #expect(Compare.relativeError(try Kernels.geglu(g), try Kernels.Reference.geglu(g)) < tolerance)
    }
}
