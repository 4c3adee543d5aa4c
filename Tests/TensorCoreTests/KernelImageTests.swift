import Imaging
import TensorStorage
import Testing
@testable import TensorCore

/// The image load transform (Pillow bilinear, Resize + CenterCrop) and the CLIP preprocess,
/// against real-size goldens from the reference and NumPy re-implementations.
@Suite struct KernelsImageTests {
    static let golden = Result { try Fixture("image_preprocess") }
    static let fixture = Result { try Fixture("kernels") }

    @Test(arguments: ["pil_a", "pil_b", "pil_c"])
    func pilBilinearIsBitExact(_ name: String) throws {
        let f = try Self.fixture.get()
        let src = try f.image("\(name).src"), want = try f.image("\(name).out")
        let got = try ImagePreprocessing.resizeBilinearPIL(src, width: want.width, height: want.height)
        #expect(got == want)
    }

    @Test(arguments: [("256x256", "256x256", 256, 256), ("320x512", "320x512", 320, 512), ("256x256", "pad_64x96", 64, 96)])
    func loadTransformIsBitExact(source: String, target: String, height: Int, width: Int) throws {
        let g = try Self.golden.get()
        let src = try g.image("\(source).src_u8"), want = try g.image("\(target).resized_u8")
        let got = try ImagePreprocessing.resizeAndCenterCrop(src, height: height, width: width)
        #expect(got.width == want.width && got.height == want.height)
        let mismatches = zip(got.pixels, want.pixels).filter { $0 != $1 }.count
        #expect(mismatches == 0, "\(mismatches) bytes differ")
    }

    /// Golden atol 1e-5 (manifest); the kernel is float32 in PyTorch's order, ~1e-6 off.
    @Test(arguments: ["256x256", "320x512"])
    func clipPreprocessMatchesGolden(_ name: String) throws {
        let g = try Self.golden.get()
        let x = ImagePreprocessing.normalizedTensor(try g.image("\(name).resized_u8"))
        let y = try ImagePreprocessing.clipPreprocess(x)
        #expect(y.shape == [1, 3, 224, 224])
        let rows = try g.integers("\(name).clip_rows")
        let want = try g.tensor("\(name).clip") // [1, 3, rows, 224]
        var worst: Float = 0
        for c in 0..<3 {
            for (ri, r) in rows.enumerated() {
                for col in 0..<224 { worst = max(worst, abs(y[0, c, r, col] - want[0, c, ri, col])) }
            }
        }
        #expect(worst < 1e-5, "max abs error \(worst)")
    }

    /// Heavier blurs than the goldens (kernels 5×15) and a mixed up/down resize; NumPy in
    /// float64 with the reference's float32 taps, so ~1e-6 is the float32 evaluation error.
    @Test func antialiasedResizeMatchesNumPy() throws {
        let f = try Self.fixture.get()
        let x = try f.tensor("kresize.x")
        let small = try ImagePreprocessing.antialiasedBicubicResize(x, height: 13, width: 26)
        #expect(Compare.maxAbsError(small, try f.tensor("kresize.small")) < 1e-5)
        let mixed = try ImagePreprocessing.antialiasedBicubicResize(x, height: 90, width: 50)
        #expect(Compare.maxAbsError(mixed, try f.tensor("kresize.mixed")) < 1e-5)
    }

    @Test func normalisationAndErrors() throws {
        let img = try RGBImage(width: 2, height: 1, pixels: [0, 128, 255, 10, 20, 30])
        let t = ImagePreprocessing.normalizedTensor(img)
        #expect(t.shape == [1, 3, 1, 2])
        #expect(t[0, 0, 0, 0] == -1 && t[0, 2, 0, 0] == 1 && t[0, 1, 0, 0] == (Float(128) / 255 - 0.5) / 0.5)
        #expect(t[0, 0, 0, 1] == (Float(10) / 255 - 0.5) / 0.5)
        #expect(throws: ImagingError.self) { try RGBImage(width: 2, height: 2, pixels: [0, 0, 0]) }
        #expect(throws: ImagingError.self) { try ImagePreprocessing.resizeBilinearPIL(img, width: 0, height: 3) }
        #expect(throws: ImagingError.self) { try ImagePreprocessing.clipPreprocess(Tensor(zeros: [1, 4, 8, 8])) }
        // Crop offsets round half to even: 5 → 2 wide leaves Δ = 3, offset round(1.5) = 2.
        let row = try RGBImage(width: 5, height: 1, pixels: (0..<15).map { UInt8($0) })
        let c = try ImagePreprocessing.centerCrop(row, height: 1, width: 2)
        #expect(c.pixels == [6, 7, 8, 9, 10, 11])
    }
}
