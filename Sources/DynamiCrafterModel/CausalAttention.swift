import TensorCore
import TensorStorage

#if canImport(Glibc)
import Glibc
#endif

/// Scaled-dot-product attention with a causal mask (token i sees tokens 0…i), the attention of
/// the CLIP text tower. The backends' `attention` has no mask; the text sequence is short (77),
/// so this is a plain loop kernel.
public enum CausalAttention {
    /// `q`, `k`, `v` are `[batch, L, heads·d]` (head h owns channels h·d ..< (h+1)·d); returns
    /// `softmax(q·kᵀ·scale + mask)·v` as `[batch, L, heads·d]`, where the mask is −∞ strictly
    /// above the diagonal.
    public static func attend(q: Tensor, k: Tensor, v: Tensor, heads: Int, scale: Float) throws -> Tensor {
        guard q.rank == 3, q.shape == k.shape, q.shape == v.shape else {
            throw TensorError.shapeMismatch("causal attention: q \(Shape.describe(q.shape)), k \(Shape.describe(k.shape)), v \(Shape.describe(v.shape)) must be one [B, L, C] shape")
        }
        let b = q.shape[0], l = q.shape[1], c = q.shape[2]
        guard heads > 0, c % heads == 0 else {
            throw TensorError.invalidArgument("causal attention: \(c) channels do not split into \(heads) heads")
        }
        let d = c / heads
        var out = Tensor(zeros: q.shape)
        guard out.count > 0 else { return out }
        q.withUnsafeBufferPointer { pq in
            k.withUnsafeBufferPointer { pk in
                v.withUnsafeBufferPointer { pv in
                    out.withUnsafeMutableBufferPointer { po in
                        let qp = UncheckedPointer(pq.baseAddress!), kp = UncheckedPointer(pk.baseAddress!)
                        let vp = UncheckedPointer(pv.baseAddress!), op = UncheckedMutablePointer(po.baseAddress!)
                        Parallel.forEach(b * heads) { job in
                            let batch = job / heads, h = job % heads
                            let base = batch * l * c + h * d
                            var scores = [Float](repeating: 0, count: l)
                            scores.withUnsafeMutableBufferPointer { s in
                                for i in 0..<l {
                                    let qi = qp.value + base + i * c
                                    var m = -Float.infinity
                                    for j in 0...i {
                                        let kj = kp.value + base + j * c
                                        var dot: Float = 0
                                        for t in 0..<d { dot += qi[t] * kj[t] }
                                        let x = dot * scale
                                        s[j] = x
                                        if x > m { m = x }
                                    }
                                    var sum: Float = 0
                                    for j in 0...i {
                                        let e = expf(s[j] - m)
                                        s[j] = e
                                        sum += e
                                    }
                                    let inv = 1 / sum
                                    let oi = op.value + base + i * c
                                    for j in 0...i {
                                        let w = s[j] * inv
                                        let vj = vp.value + base + j * c
                                        for t in 0..<d { oi[t] += w * vj[t] }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return out
    }
}

/// Raw pointers handed to worker threads that read (or write disjoint parts of) one buffer.
struct UncheckedPointer: @unchecked Sendable {
    let value: UnsafePointer<Float>
    init(_ value: UnsafePointer<Float>) { self.value = value }
}

struct UncheckedMutablePointer: @unchecked Sendable {
    let value: UnsafeMutablePointer<Float>
    init(_ value: UnsafeMutablePointer<Float>) { self.value = value }
}
