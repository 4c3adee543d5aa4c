import TensorStorage
import Testing
import TensorCore
import TestingSupport

@Suite("Counting backend")
struct CountingBackendTests {
    /// The reference backend, wrapped: exact, fast at these sizes.
    private func counting() throws -> CountingBackend {
        CountingBackend(wrapping: try ComputeBackends.make(.reference))
    }

    @Test("a Linear counts 2·M·N·K over all leading dimensions and returns the wrapped result")
    func linear() throws {
        let backend = try counting()
        var random = TestRandom(seed: 1)
        let w = try random.weight([4, 7]), b = try random.weight([4])
        let x = try random.tensor([3, 5, 7])
        let op = try backend.makeLinear(weight: w, bias: b, precision: .f32)
        let y = try op.callAsFunction(x)
        let plain = try backend.base.makeLinear(weight: w, bias: b, precision: .f32)
        let expected = try plain.callAsFunction(x)
        #expect(y.shape == [3, 5, 4])
        #expect(y.scalars == expected.scalars)
        let tally = backend.counter.snapshot()
        #expect(tally.operations == [CountedOperation(.linear): OperationTally(calls: 1, flops: 2 * 15 * 4 * 7,
                                                                                 seconds: tally.total.seconds)])
        #expect(tally.total.seconds >= 0)
        _ = try op.callAsFunction(x)
        #expect(backend.counter.snapshot().byKind[.linear]?.calls == 2)
        #expect(backend.counter.snapshot().total.flops == 2 * (2 * 15 * 4 * 7))
    }

    @Test("a convolution counts 2·Cout·Cin·kh·kw·Hout·Wout·N, keyed by its geometry")
    func convolution() throws {
        let backend = try counting()
        var random = TestRandom(seed: 2)
        // 3×3 stride 2 padding 1 on 9×8: output 5×4.
        let w = try random.weight([5, 3, 3, 3]), b = try random.weight([5])
        let x = try random.tensor([2, 9, 8, 3])
        let op = try backend.makeConv2d(weight: w, bias: b, geometry: .square(3, stride: 2, padding: 1),
                                        precision: .f32, algorithm: .auto)
        let y = try op.callAsFunction(x)
        #expect(y.shape == [2, 5, 4, 5])
        let plain = try backend.base.makeConv2d(weight: w, bias: b, geometry: .square(3, stride: 2, padding: 1),
                                                precision: .f32, algorithm: .auto)
        #expect(y.scalars == (try plain.callAsFunction(x)).scalars)
        // The UNet's temporal convolution: kernel 3×1 over [batch, frames, positions, C].
        let wt = try random.weight([6, 4, 3, 1])
        let xt = try random.tensor([2, 5, 7, 4])
        let temporal = try backend.makeConv2d(weight: wt, bias: nil, geometry: .temporal3, precision: .f32, algorithm: .auto)
        #expect(try temporal.callAsFunction(xt).shape == [2, 5, 7, 6])

        let ops = backend.counter.snapshot().operations
        #expect(ops[CountedOperation(.conv2d, detail: "3x3/s2")]?.flops == 2 * 5 * 3 * 3 * 3 * 5 * 4 * 2)
        #expect(ops[CountedOperation(.conv2d, detail: "3x1/s1")]?.flops == 2 * 6 * 4 * 3 * 1 * 5 * 7 * 2)
        #expect(backend.counter.snapshot().byKind[.conv2d]?.calls == 2)
    }

    @Test("batched matmul counts 2·b·m·n·k, transposed operands included")
    func matmul() throws {
        let backend = try counting()
        var random = TestRandom(seed: 3)
        let a = try random.tensor([2, 3, 4]), b = try random.tensor([2, 4, 5])
        let c = try backend.matmul(a, b)
        #expect(c.shape == [2, 3, 5])
        let at = try random.tensor([2, 4, 3]), bt = try random.tensor([2, 5, 4])
        let ct = try backend.matmul(at, bt, transposeA: true, transposeB: true)
        #expect(ct.shape == [2, 3, 5])
        let m2 = try backend.matmul(try random.tensor([6, 7]), try random.tensor([7, 2]))
        #expect(m2.shape == [6, 2])
        let tally = backend.counter.take()
        #expect(tally.byKind[.matmul] == OperationTally(calls: 3, flops: 2 * (2 * 2 * 3 * 5 * 4) + 2 * 6 * 2 * 7,
                                                         seconds: tally.total.seconds))
        #expect(backend.counter.snapshot().operations.isEmpty)
    }

    @Test("attention counts the scores and the weighted sum: 2·b·lq·lk·(Cq + Cv)")
    func attention() throws {
        let backend = try counting()
        var random = TestRandom(seed: 4)
        let q = try random.tensor([2, 6, 8]), k = try random.tensor([2, 10, 8]), v = try random.tensor([2, 10, 8])
        let out = try backend.attention(q: q, k: k, v: v, heads: 2, scale: 0.25, precision: .f32)
        let expected = try backend.base.attention(q: q, k: k, v: v, heads: 2, scale: 0.25, precision: .f32)
        #expect(out.scalars == expected.scalars)
        #expect(backend.counter.snapshot().byKind[.attention]?.flops == 4 * 2 * 6 * 10 * 8)
        backend.counter.reset()
        #expect(backend.counter.snapshot() == FLOPTally())
    }

    @Test("the wrapper reports the wrapped backend's identity")
    func identity() throws {
        let base = try ComputeBackends.make(.openblas)
        let backend = CountingBackend(wrapping: base)
        #expect(backend.kind == .openblas)
        #expect(backend.summary == base.summary)
        #expect(backend.nativeBF16 == base.nativeBF16)
    }
}
