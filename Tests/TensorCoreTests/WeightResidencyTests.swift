import Foundation
import TensorStorage
import TestingSupport
import Testing
import TensorCore
import Weights

/// How weights are held: one packed copy per layer whatever the row counts, bf16 residency
/// at half the bytes, exact widening, pages of a mapped file released and read back, and
/// Linear layers streamed from a mapped file.
@Suite("weight residency")
struct WeightResidencyTests {
    typealias Support = OneDNNTestSupport

    @Test("every row count and input shape reads the one packed copy")
    func onePackedLayout() throws {
        let backend = try Support.backend.get()
        var rng = Support.Random(seed: 40)
        // UNet-like widths: the blocked layouts of oneDNN's jit kernels, not just gemm's plain one.
        let linear = try #require(try backend.makeLinear(weight: try rng.weight([320, 320], scale: 0.05), bias: try rng.weight([320]),
                                                         precision: .f32) as? OneDNNLinear)
        for rows in [1, 16, 77, 257, 1024, 4096, 8192] { _ = try linear(try rng.tensor([rows, 320])) }
        #expect(linear.packedLayoutCount == 1)
        let conv = try #require(try backend.makeConv2d(weight: try rng.weight([64, 32, 3, 3], scale: 0.05), bias: nil,
                                                       geometry: .square(3, padding: 1), precision: .f32,
                                                       algorithm: .auto) as? OneDNNConv2d)
        for shape in [[1, 8, 8, 32], [2, 16, 16, 32], [32, 4, 4, 32], [1, 40, 24, 32]] { _ = try conv(try rng.tensor(shape)) }
        #expect(conv.packedLayoutCount == 1)
    }

    @Test("bf16 precision keeps the packed weights in half the bytes, and computes with them",
          arguments: [DType.f32, .bf16])
    func bf16Residency(dtype: DType) throws {
        let backend = try Support.backend.get()
        var rng = Support.Random(seed: 41)
        let w = try rng.weight([256, 192], scale: 0.05, dtype: dtype)
        let f32 = try #require(try backend.makeLinear(weight: w, bias: nil, precision: .f32) as? OneDNNLinear)
        let bf16 = try #require(try backend.makeLinear(weight: w, bias: nil, precision: .bf16) as? OneDNNLinear)
        #expect(bf16.weightsAreBF16 && !f32.weightsAreBF16)
        #expect(f32.packedBytes >= 256 * 192 * 4)
        #expect(bf16.packedBytes * 2 == f32.packedBytes, "\(bf16.packedBytes) vs \(f32.packedBytes)")
        let x = try rng.tensor([300, 192])
        let expected = try Support.bf16Reference(weight: w)
        let want = try Support.reference.makeLinear(weight: expected.weight, bias: nil, precision: expected.precision).callAsFunction(x)
        #expect(Support.relativeError(try bf16(x), want) < Support.bf16VersusBF16Tolerance)
        #expect(Support.relativeError(try bf16(x), try f32(x)) < Support.bf16VersusF32Tolerance)

        let cw = try rng.weight([64, 48, 3, 3], scale: 0.05, dtype: dtype)
        let g = Conv2dGeometry.square(3, padding: 1)
        let c32 = try #require(try backend.makeConv2d(weight: cw, bias: nil, geometry: g, precision: .f32, algorithm: .direct) as? OneDNNConv2d)
        let c16 = try #require(try backend.makeConv2d(weight: cw, bias: nil, geometry: g, precision: .bf16, algorithm: .direct) as? OneDNNConv2d)
        #expect(c16.packedBytes * 2 == c32.packedBytes)
        let image = try rng.tensor([2, 12, 10, 48])
        let cExpected = try Support.bf16Reference(weight: cw)
        let cWant = try Support.reference.makeConv2d(weight: cExpected.weight, bias: nil, geometry: g,
                                                     precision: cExpected.precision, algorithm: .direct).callAsFunction(image)
        #expect(Support.relativeError(try c16(image), cWant) < Support.bf16VersusBF16Tolerance)
    }

    @Test("widening and narrowing match the scalar conversions, specials included")
    func widening() {
        var rng = TestRandom(seed: 42)
        var values: [Float] = (0..<1037).map { _ in (rng.uniform() - 0.5) * 1e4 }
        values += [.nan, .infinity, -.infinity, 0, -0.0, 1.00390625, 1.01171875, -3.3e38, 1e-40, .greatestFiniteMagnitude]
        var narrow = [UInt16](repeating: 0, count: values.count)
        values.withUnsafeBufferPointer { v in
            narrow.withUnsafeMutableBytes { Widening.f32ToBF16(v.baseAddress!, $0.baseAddress!, count: values.count) }
        }
        #expect(narrow == values.map(HalfConversion.bf16(from:)))
        var wide = [Float](repeating: 1, count: values.count)
        narrow.withUnsafeBytes { n in
            wide.withUnsafeMutableBufferPointer { Widening.bf16ToF32(n.baseAddress!, $0.baseAddress!, count: values.count) }
        }
        let scalar = narrow.map(HalfConversion.float(fromBF16:))
        #expect(zip(wide, scalar).allSatisfy { $0.bitPattern == $1.bitPattern })
    }

    /// `values` as tensor `w` of a safetensors file (the project's writer), read back through
    /// the project's reader: a view of the mapped file, as checkpoints are loaded.
    static func mappedTensor(_ values: [Float], shape: [Int], dtype: DType, in dir: String) throws -> TensorData {
        let path = dir + "/w-\(dtype.rawValue).safetensors"
        let data = try TensorData(Tensor(shape: shape, scalars: values)).converted(to: dtype)
        try SafetensorsWriter.write([(name: "w", tensor: data)], to: path)
        return try WeightFile.open(path).tensor(named: "w")
    }

    @Test("streamed Linear layers read a mapped file in place (f32) or widened in blocks (bf16); released pages read back",
          arguments: [DType.f32, .bf16])
    func streamed(dtype: DType) throws {
        let backend = try Support.backend.get()
        var rng = TestRandom(seed: 43)
        let (outF, inF) = (70, 96)
        let values = (0..<(outF * inF)).map { _ in (rng.uniform() - 0.5) * 0.2 }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("streamed-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let weight = try Self.mappedTensor(values, shape: [outF, inF], dtype: dtype, in: dir)
        #expect(weight.isFileMapped)
        let bias = try rng.weight([outF])
        let streamed = try backend.makeLinear(weight: weight, bias: bias, precision: .f32, residency: .streamed)
        #expect(!(streamed is OneDNNLinear), "a mapped weight is streamed, not packed")
        let packed = try backend.makeLinear(weight: weight, bias: bias, precision: .f32, residency: .packed)
        #expect(packed is OneDNNLinear)
        for rows in [1, 77, 257] {
            let x = try rng.tensor([rows, inF])
            let want = try Support.reference.makeLinear(weight: weight, bias: bias, precision: .f32).callAsFunction(x)
            // Twice: the second call reads pages the first one released.
            #expect(Support.relativeError(try streamed(x), want) < Support.f32Tolerance)
            #expect(Support.relativeError(try streamed(x), want) < Support.f32Tolerance)
            #expect(Support.relativeError(try packed(x), want) < Support.f32Tolerance)
        }
        // Heap weights cannot be streamed: packed instead.
        let heap = try rng.weight([outF, inF])
        #expect(try backend.makeLinear(weight: heap, bias: nil, precision: .f32, residency: .streamed) is OneDNNLinear)
    }
}
