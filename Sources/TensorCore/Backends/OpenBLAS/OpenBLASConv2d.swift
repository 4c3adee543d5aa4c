import TensorStorage

/// A convolution as im2col + `cblas_sgemm` on channels-last activations.
///
/// The weight is repacked once from `[out, in, kh, kw]` to `[out, kh, kw, in]`, the order in
/// which an NHWC patch lies in memory, so a 1×1 stride-1 convolution is a plain GEMM on the
/// input and other kernels gather one row of `kh·kw·in` values per output pixel. Rows are
/// gathered in chunks of bounded size (a 3×3 convolution over 32 frames of 320×32×32 would
/// otherwise need a 377 MB patch matrix).
struct OpenBLASConv2d: Conv2dOperator {
    let packed: Tensor // [out, kh·kw·in]
    let bias: Tensor?
    let geometry: Conv2dGeometry
    let precision: Precision
    let inChannels: Int
    let outChannels: Int
    var algorithm: ConvAlgorithm { .direct }

    /// Patch-matrix bytes per chunk: big enough for efficient GEMMs, small enough for cache-
    /// friendly gathering and bounded memory.
    static let chunkBytes = 8 << 20

    init(weight: TensorData, bias: TensorData?, geometry: Conv2dGeometry, precision: Precision) throws {
        let s = try ConvShapes(weight: weight, bias: bias, geometry: geometry)
        inChannels = s.inChannels
        outChannels = s.outChannels
        self.geometry = geometry
        self.precision = precision
        self.bias = bias?.toTensor()
        var w = weight.toTensor()
        if precision == .bf16 { w = Kernels.roundedToBF16(w) }
        let (co, ci, kh, kw) = (s.outChannels, s.inChannels, geometry.kernelH, geometry.kernelW)
        packed = w.withUnsafeBufferPointer { src in
            Tensor(shape: [co, kh * kw * ci]) { dst in
                for o in 0..<co { for c in 0..<ci { for y in 0..<kh { for x in 0..<kw {
                    dst[((o * kh + y) * kw + x) * ci + c] = src[((o * ci + c) * kh + y) * kw + x]
                } } } }
            }
        }
    }

    func callAsFunction(_ x: Tensor) throws -> Tensor {
        let (n, h, w, ho, wo) = try ConvShapes.check(input: x.shape, inChannels: inChannels, geometry: geometry)
        let x = precision == .bf16 ? Kernels.roundedToBF16(x) : x
        let g = geometry, ci = inChannels, co = outChannels
        let kdim = g.kernelH * g.kernelW * ci
        let pixels = n * ho * wo
        let pointwise = g.kernelH == 1 && g.kernelW == 1 && g.strideH == 1 && g.strideW == 1
            && g.padTop == 0 && g.padBottom == 0 && g.padLeft == 0 && g.padRight == 0
        return Tensor(shape: [n, ho, wo, co]) { out in
            fillRows(out, rows: pixels, with: bias, width: co)
            let beta: Float = bias == nil ? 0 : 1
            if pixels == 0 || co == 0 || kdim == 0 {
                if bias == nil { out.update(repeating: 0) } // an empty sum
                return
            }
            x.withUnsafeBufferPointer { px in
                packed.withUnsafeBufferPointer { pw in
                    if pointwise {
                        OpenBLASBackend.sgemm(false, true, pixels, co, kdim, 1, px.baseAddress!, kdim,
                                              pw.baseAddress!, kdim, beta, out.baseAddress!, co)
                        return
                    }
                    let chunkRows = max(1, min(pixels, Self.chunkBytes / (kdim * 4)))
                    let cols = UnsafeMutablePointer<Float>.allocate(capacity: chunkRows * kdim)
                    defer { cols.deallocate() }
                    var start = 0
                    while start < pixels {
                        let rows = min(chunkRows, pixels - start)
                        for r in 0..<rows {
                            let p = start + r
                            let b = p / (ho * wo), oy = (p / wo) % ho, ox = p % wo
                            var dst = cols + r * kdim
                            for ky in 0..<g.kernelH {
                                let iy = oy * g.strideH - g.padTop + ky
                                for kx in 0..<g.kernelW {
                                    let ix = ox * g.strideW - g.padLeft + kx
                                    if iy < 0 || iy >= h || ix < 0 || ix >= w {
                                        dst.update(repeating: 0, count: ci)
                                    } else {
                                        dst.update(from: px.baseAddress! + ((b * h + iy) * w + ix) * ci, count: ci)
                                    }
                                    dst += ci
                                }
                            }
                        }
                        OpenBLASBackend.sgemm(false, true, rows, co, kdim, 1, cols, kdim,
                                              pw.baseAddress!, kdim, beta, out.baseAddress! + start * co, co)
                        start += rows
                    }
                }
            }
        }
    }
}
