import TensorStorage

#if canImport(Glibc)
import Glibc
#endif

/// The CLIP image preprocess of the reference (`FrozenOpenCLIPImageEmbedderV2.preprocess`):
/// kornia's antialiased bicubic resize to 224×224 (`align_corners=True`), then `(x + 1)/2` and
/// the CLIP mean/std normalisation. Everything is float32 in PyTorch's order, which keeps the
/// result within ~1e-6 of the reference (float64 sample positions would be off by 6e-5).
extension ImagePreprocessing {
    public static let clipSize = 224
    public static let clipMean: [Float] = [0.48145466, 0.4578275, 0.40821073]
    public static let clipStd: [Float] = [0.26862954, 0.26130258, 0.27577711]

    /// `[N, 3, H, W]` in [-1, 1] → `[N, 3, 224, 224]` CLIP input.
    public static func clipPreprocess(_ x: Tensor) throws(ImagingError) -> Tensor {
        guard x.rank == 4, x.shape[1] == 3 else {
            throw ImagingError.shapeMismatch("clipPreprocess expects [N, 3, H, W], got \(Shape.describe(x.shape))")
        }
        var y = try antialiasedBicubicResize(x, height: clipSize, width: clipSize)
        let plane = clipSize * clipSize
        y.withUnsafeMutableBufferPointer { p in
            for n in 0..<x.shape[0] {
                for c in 0..<3 {
                    let base = (n * 3 + c) * plane
                    let mean = clipMean[c], std = clipStd[c]
                    for i in 0..<plane { p[base + i] = ((p[base + i] + 1) / 2 - mean) / std }
                }
            }
        }
        return y
    }

    /// kornia `resize(x, (height, width), interpolation="bicubic", align_corners=True,
    /// antialias=True)` on `[N, C, H, W]`: when either axis shrinks, a Gaussian blur with
    /// σ = max((factor − 1)/2, 0.001) per axis and reflect padding, then the bicubic resize.
    public static func antialiasedBicubicResize(_ x: Tensor, height: Int, width: Int) throws(ImagingError) -> Tensor {
        guard x.rank == 4, x.shape[2] > 0, x.shape[3] > 0 else {
            throw ImagingError.shapeMismatch("antialiasedBicubicResize expects [N, C, H, W], got \(Shape.describe(x.shape))")
        }
        guard height > 0, width > 0 else {
            throw ImagingError.invalidSize("resize target \(height)×\(width) must be positive")
        }
        let fy = Double(x.shape[2]) / Double(height), fx = Double(x.shape[3]) / Double(width)
        var src = x
        if max(fy, fx) > 1 {
            let sy = max((fy - 1) / 2, 0.001), sx = max((fx - 1) / 2, 0.001)
            var ky = Int(max(4 * sy, 3)), kx = Int(max(4 * sx, 3))
            if ky % 2 == 0 { ky += 1 }
            if kx % 2 == 0 { kx += 1 }
            src = try gaussianBlur(x, kernelY: gaussianKernel(size: ky, sigma: Float(sy)),
                                   kernelX: gaussianKernel(size: kx, sigma: Float(sx)))
        }
        return bicubicAlignCorners(src, height: height, width: width)
    }

    /// kornia `get_gaussian_kernel1d` in float32: `exp(−x²/(2σ²))` at integer offsets from the
    /// centre, normalised to sum 1.
    static func gaussianKernel(size: Int, sigma: Float) -> [Float] {
        let twoSigma2 = 2 * (sigma * sigma)
        var g = (0..<size).map { i -> Float in
            let t = Float(i - size / 2)
            return expf(-(t * t) / twoSigma2)
        }
        let sum = g.reduce(0, +)
        for i in g.indices { g[i] /= sum }
        return g
    }

    /// Separable correlation with reflect padding (mirror without repeating the edge),
    /// horizontal pass then vertical, as kornia's `filter2d_separable`.
    static func gaussianBlur(_ x: Tensor, kernelY: [Float], kernelX: [Float]) throws(ImagingError) -> Tensor {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let ry = kernelY.count / 2, rx = kernelX.count / 2
        guard ry < h || h == 1, rx < w || w == 1 else {
            throw ImagingError.invalidSize("blur kernel \(kernelY.count)×\(kernelX.count) too large for reflect padding of \(h)×\(w)")
        }
        func reflect(_ i: Int, _ n: Int) -> Int {
            if n == 1 { return 0 }
            return i < 0 ? -i : (i >= n ? 2 * (n - 1) - i : i)
        }
        let src = x.scalars
        var tmp = [Float](repeating: 0, count: src.count)
        for plane in 0..<(n * c) {
            let base = plane * h * w
            for y in 0..<h {
                for xx in 0..<w {
                    var s: Float = 0
                    for (k, g) in kernelX.enumerated() { s += g * src[base + y * w + reflect(xx + k - rx, w)] }
                    tmp[base + y * w + xx] = s
                }
            }
        }
        return Tensor(shape: x.shape) { dst in
            for plane in 0..<(n * c) {
                let base = plane * h * w
                for y in 0..<h {
                    for xx in 0..<w {
                        var s: Float = 0
                        for (k, g) in kernelY.enumerated() { s += g * tmp[base + reflect(y + k - ry, h) * w + xx] }
                        dst[base + y * w + xx] = s
                    }
                }
            }
        }
    }

    /// Taps and weights of PyTorch's bicubic `align_corners=True` along one axis, in float32:
    /// `src = o·(in−1)/(out−1)`, Keys cubic with A = −0.75 on `floor(src)−1 … floor(src)+2`,
    /// indices clamped to the image.
    static func bicubicTaps(inSize: Int, outSize: Int) -> (index: [Int], weight: [Float]) {
        let a: Float = -0.75
        let scale: Float = outSize > 1 ? Float(inSize - 1) / Float(outSize - 1) : 0
        var index = [Int](repeating: 0, count: 4 * outSize), weight = [Float](repeating: 0, count: 4 * outSize)
        func near(_ x: Float) -> Float { ((a + 2) * x - (a + 3)) * x * x + 1 }
        func far(_ x: Float) -> Float { ((a * x - 5 * a) * x + 8 * a) * x - 4 * a }
        for o in 0..<outSize {
            let real = scale * Float(o)
            let i0 = real.rounded(.down)
            let t = real - i0
            let w: [Float] = [far(t + 1), near(t), near(1 - t), far((1 - t) + 1)]
            for j in 0..<4 {
                index[4 * o + j] = min(max(Int(i0) - 1 + j, 0), inSize - 1)
                weight[4 * o + j] = w[j]
            }
        }
        return (index, weight)
    }

    /// Bicubic resize: rows combined first (`t_i = Σ_j wx_j·x[y_i, x_j]`), then
    /// `Σ_i wy_i·t_i`, each sum left to right as PyTorch's CPU kernel does.
    static func bicubicAlignCorners(_ x: Tensor, height: Int, width: Int) -> Tensor {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (ix, wx) = bicubicTaps(inSize: w, outSize: width)
        let (iy, wy) = bicubicTaps(inSize: h, outSize: height)
        let src = x.scalars
        var rows = [Float](repeating: 0, count: h * width)
        return Tensor(shape: [n, c, height, width]) { dst in
            for plane in 0..<(n * c) {
                let base = plane * h * w
                for y in 0..<h {
                    for o in 0..<width {
                        var s = src[base + y * w + ix[4 * o]] * wx[4 * o]
                        for j in 1..<4 { s += src[base + y * w + ix[4 * o + j]] * wx[4 * o + j] }
                        rows[y * width + o] = s
                    }
                }
                let outBase = plane * height * width
                for oy in 0..<height {
                    for o in 0..<width {
                        var s = rows[iy[4 * oy] * width + o] * wy[4 * oy]
                        for j in 1..<4 { s += rows[iy[4 * oy + j] * width + o] * wy[4 * oy + j] }
                        dst[outBase + oy * width + o] = s
                    }
                }
            }
        }
    }
}
