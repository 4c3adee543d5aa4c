import TensorStorage
import Testing
import TensorCore
import TestingSupport

/// The OpenBLAS backend against the reference loops, on the shapes the model uses (scaled
/// down). fp32 tolerance 1e-5: both sum the same products in a different order, which moves
/// the result by a few ulps times √K. bf16 is compared with the reference in bf16 (same
/// rounded operands, so the same 1e-5), and with fp32 at 1e-2 (bf16 keeps 8 bits: ~4e-3 per
/// operand).
@Suite("OpenBLAS backend")
struct OpenBLASBackendTests {
    let backend = OpenBLASBackend()
    let reference = ReferenceBackend()

    @Test("linear matches the reference", arguments: [DType.f32, .f16, .bf16], [1, 7, 64])
    func linear(dtype: DType, rows: Int) throws {
        var rng = TestRandom(seed: 1)
        let w = try rng.weight([24, 40], dtype: dtype)
        let b = try rng.weight([24], dtype: dtype)
        let x = try rng.tensor([rows, 40])
        let withBias = try backend.makeLinear(weight: w, bias: b, precision: .f32).callAsFunction(x)
        let withBiasRef = try reference.makeLinear(weight: w, bias: b, precision: .f32).callAsFunction(x)
        #expect(withBias.shape == [rows, 24])
        #expect(relativeError(withBias, withBiasRef) < 1e-5)
        let noBias = try backend.makeLinear(weight: w, bias: nil, precision: .f32).callAsFunction(x)
        let noBiasRef = try reference.makeLinear(weight: w, bias: nil, precision: .f32).callAsFunction(x)
        #expect(relativeError(noBias, noBiasRef) < 1e-5)
    }

    @Test("linear keeps leading dimensions and rejects a wrong width")
    func linearShapes() throws {
        var rng = TestRandom(seed: 2)
        let op = try backend.makeLinear(weight: try rng.weight([5, 3]), bias: nil, precision: .f32)
        #expect(try op(rng.tensor([2, 4, 3])).shape == [2, 4, 5])
        #expect(throws: TensorError.self) { try op(rng.tensor([2, 4])) }
        #expect(throws: TensorError.self) {
            try backend.makeLinear(weight: try rng.weight([5, 3]), bias: try rng.weight([4]), precision: .f32)
        }
    }

    static let geometries: [(String, Conv2dGeometry, [Int])] = [
        ("3x3 s1 p1", .square(3, stride: 1, padding: 1), [2, 9, 7, 12]),
        ("3x3 s2 p1", .square(3, stride: 2, padding: 1), [2, 9, 7, 12]),
        ("1x1", .square(1), [3, 5, 6, 12]),
        ("3x3 s2 pad right/bottom", Conv2dGeometry(kernelH: 3, kernelW: 3, strideH: 2, strideW: 2, padBottom: 1, padRight: 1), [1, 8, 10, 12]),
        ("temporal 3x1", .temporal3, [2, 4, 15, 12]),
    ]

    @Test("convolution matches the reference", arguments: 0..<geometries.count)
    func conv(index: Int) throws {
        let (_, g, inShape) = Self.geometries[index]
        var rng = TestRandom(seed: UInt64(10 + index))
        let w = try rng.weight([13, 12, g.kernelH, g.kernelW], scale: 0.3)
        let b = try rng.weight([13])
        let x = try rng.tensor(inShape)
        for precision in Precision.allCases {
            let got = try backend.makeConv2d(weight: w, bias: b, geometry: g, precision: precision, algorithm: .auto).callAsFunction(x)
            let want = try reference.makeConv2d(weight: w, bias: b, geometry: g, precision: precision, algorithm: .direct).callAsFunction(x)
            #expect(got.shape == want.shape)
            #expect(relativeError(got, want) < 1e-5, "\(precision)")
        }
    }

    @Test("a convolution larger than one patch chunk matches the reference")
    func convChunks() throws {
        var rng = TestRandom(seed: 3)
        let g = Conv2dGeometry.square(3, stride: 1, padding: 1)
        let w = try rng.weight([8, 64, 3, 3], scale: 0.1)
        let x = try rng.tensor([2, 64, 64, 64]) // 8192 rows of 576 values: 18 MB of patches
        let got = try backend.makeConv2d(weight: w, bias: nil, geometry: g, precision: .f32, algorithm: .direct).callAsFunction(x)
        let want = try reference.makeConv2d(weight: w, bias: nil, geometry: g, precision: .f32, algorithm: .direct).callAsFunction(x)
        #expect(relativeError(got, want) < 1e-5)
    }

    @Test("convolution rejects inputs that do not fit")
    func convShapes() throws {
        var rng = TestRandom(seed: 4)
        let op = try backend.makeConv2d(weight: try rng.weight([4, 3, 3, 3]), bias: nil,
                                        geometry: .square(3), precision: .f32, algorithm: .auto)
        #expect(throws: TensorError.self) { try op(rng.tensor([1, 5, 5, 4])) }
        #expect(throws: TensorError.self) { try op(rng.tensor([1, 2, 2, 3])) }
        #expect(throws: TensorError.self) {
            try backend.makeConv2d(weight: try rng.weight([4, 3, 3, 3]), bias: nil,
                                   geometry: .square(1), precision: .f32, algorithm: .auto)
        }
    }

    @Test("batched matmul with every transpose and a scale", arguments: [false, true], [false, true])
    func matmul(transposeA: Bool, transposeB: Bool) throws {
        var rng = TestRandom(seed: 5)
        let a = try rng.tensor(transposeA ? [3, 11, 6] : [3, 6, 11])
        let b = try rng.tensor(transposeB ? [3, 9, 11] : [3, 11, 9])
        for precision in Precision.allCases {
            let got = try backend.matmul(a, b, transposeA: transposeA, transposeB: transposeB, alpha: 0.5, precision: precision)
            let want = try reference.matmul(a, b, transposeA: transposeA, transposeB: transposeB, alpha: 0.5, precision: precision)
            #expect(got.shape == [3, 6, 9])
            #expect(relativeError(got, want) < 1e-5)
        }
        #expect(throws: TensorError.self) { try backend.matmul(a, try rng.tensor([3, 5, 9])) }
    }

    @Test("attention matches the reference and restores OpenBLAS's threads")
    func attention() throws {
        var rng = TestRandom(seed: 6)
        let q = try rng.tensor([2, 37, 3 * 16]), k = try rng.tensor([2, 300, 48]), v = try rng.tensor([2, 300, 48])
        Threading.configure(threads: 2)
        let got = try backend.attention(q: q, k: k, v: v, heads: 3, scale: 0.25, precision: .f32)
        let want = try reference.attention(q: q, k: k, v: v, heads: 3, scale: 0.25, precision: .f32)
        #expect(relativeError(got, want) < 1e-5)
        #expect(backend.summary.contains("2 threads"))
    }

    @Test("bf16 stays within bf16 accuracy of fp32")
    func bf16Accuracy() throws {
        var rng = TestRandom(seed: 7)
        let w = try rng.weight([32, 64])
        let x = try rng.tensor([16, 64])
        let fp32 = try backend.makeLinear(weight: w, bias: nil, precision: .f32).callAsFunction(x)
        let bf16 = try backend.makeLinear(weight: w, bias: nil, precision: .bf16).callAsFunction(x)
        let err = relativeError(bf16, fp32)
        #expect(err < 1e-2)
        #expect(err > 1e-5, "bf16 must actually round its operands")
    }
}
