import DynamiCrafterModel
import TensorCore
import TensorStorage
import Testing

/// The masked attention of the text tower against a direct evaluation of its definition, and
/// against the backends' unmasked attention on the last query (which sees every key).
@Suite("Causal attention")
struct CausalAttentionTests {
    static func random(_ shape: [Int], seed: UInt64) -> Tensor {
        var state = seed
        return Tensor(shape: shape) { p in
            for i in p.indices {
                state = state &* 6364136223846793005 &+ 1442695040888963407
                p[i] = Float(Int64(bitPattern: state >> 11) % 2000) / 1000 - 1
            }
        }
    }

    @Test func matchesDefinition() throws {
        let b = 2, l = 9, heads = 3, d = 4, c = heads * d
        let q = Self.random([b, l, c], seed: 1), k = Self.random([b, l, c], seed: 2), v = Self.random([b, l, c], seed: 3)
        let scale: Float = 0.7
        let out = try CausalAttention.attend(q: q, k: k, v: v, heads: heads, scale: scale)
        var maxErr: Double = 0
        for n in 0..<b { for h in 0..<heads { for i in 0..<l {
            var w = [Double](repeating: 0, count: i + 1)
            for j in 0...i {
                var s = 0.0
                for t in 0..<d { s += Double(q[n, i, h * d + t]) * Double(k[n, j, h * d + t]) }
                w[j] = s * Double(scale)
            }
            let m = w.max()!
            let e = w.map { Foundation_exp($0 - m) }
            let z = e.reduce(0, +)
            for t in 0..<d {
                var o = 0.0
                for j in 0...i { o += e[j] / z * Double(v[n, j, h * d + t]) }
                maxErr = max(maxErr, abs(o - Double(out[n, i, h * d + t])))
            }
        } } }
        #expect(maxErr < 1e-5)
    }

    @Test func lastRowMatchesUnmaskedAttention() throws {
        let q = Self.random([1, 6, 8], seed: 4), k = Self.random([1, 6, 8], seed: 5), v = Self.random([1, 6, 8], seed: 6)
        let causal = try CausalAttention.attend(q: q, k: k, v: v, heads: 2, scale: 0.5)
        let full = try ComputeBackends.make(.reference).attention(q: q, k: k, v: v, heads: 2, scale: 0.5, precision: .f32)
        for t in 0..<8 { #expect(abs(causal[0, 5, t] - full[0, 5, t]) < 1e-5) }
        // The first query sees only the first key: its output is v[0].
        for t in 0..<8 { #expect(abs(causal[0, 0, t] - v[0, 0, t]) < 1e-6) }
    }

    @Test func rejectsBadShapes() {
        let x = Tensor(zeros: [1, 4, 6])
        #expect(throws: TensorError.self) { try CausalAttention.attend(q: x, k: x, v: x, heads: 4, scale: 1) }
        #expect(throws: TensorError.self) { try CausalAttention.attend(q: x, k: Tensor(zeros: [1, 3, 6]), v: x, heads: 2, scale: 1) }
    }
}

import Foundation
private func Foundation_exp(_ x: Double) -> Double { exp(x) }
