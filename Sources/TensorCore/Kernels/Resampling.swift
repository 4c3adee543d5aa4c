import TensorStorage

/// Spatial resampling of channels-last activations `[N, H, W, C]`.
extension Kernels {
    /// Nearest-neighbour ×2 upsampling (`F.interpolate(scale_factor=2, mode="nearest")`):
    /// `[N, H, W, C] → [N, 2H, 2W, C]`.
    public static func upsampleNearest2x(_ x: Tensor) throws -> Tensor {
        let (n, h, w, c) = try spatialShape(x.shape, "upsampleNearest2x")
        var out = uninitialized([n, 2 * h, 2 * w, c])
        guard out.count > 0 else { return out }
        x.withUnsafeBufferPointer { px in
            out.withUnsafeMutableBufferPointer { po in
                let src = px.baseAddress!, dst = po.baseAddress!
                let rowOut = 2 * w * c
                forChunks(n * h, grain: max(1, parallelGrain / max(2 * rowOut, 1))) { r in
                    for row in r { // one input row → two identical output rows
                        let s = src + row * w * c, d0 = dst + 2 * row * rowOut
                        for ix in 0..<w {
                            let a = s + ix * c, o = d0 + 2 * ix * c
                            var j = 0
                            while j + 8 <= c { let v = load8(a + j); store8(v, o + j); store8(v, o + c + j); j += 8 }
                            while j < c { o[j] = a[j]; o[c + j] = a[j]; j += 1 }
                        }
                        (d0 + rowOut).update(from: d0, count: rowOut)
                    }
                }
            }
        }
        return out
    }

    /// 2×2 average pooling with stride 2 (`AvgPool2d(2)`, floor mode): `[N, H, W, C] →
    /// [N, H/2, W/2, C]`. Sums in PyTorch's order (row by row), then divides by 4.
    public static func avgPool2x(_ x: Tensor) throws -> Tensor {
        let (n, h, w, c) = try spatialShape(x.shape, "avgPool2x")
        let ho = h / 2, wo = w / 2
        var out = uninitialized([n, ho, wo, c])
        guard out.count > 0 else { return out }
        x.withUnsafeBufferPointer { px in
            out.withUnsafeMutableBufferPointer { po in
                let src = px.baseAddress!, dst = po.baseAddress!
                forChunks(n * ho, grain: max(1, parallelGrain / max(4 * wo * c, 1))) { r in
                    for row in r {
                        let b = row / ho, oy = row % ho
                        let top = src + ((b * h + 2 * oy) * w) * c, bottom = top + w * c
                        let o = dst + row * wo * c
                        for ox in 0..<wo {
                            let a = top + 2 * ox * c, d = bottom + 2 * ox * c, t = o + ox * c
                            var j = 0
                            while j + 8 <= c {
                                let s = ((load8(a + j) + load8(a + c + j)) + load8(d + j)) + load8(d + c + j)
                                store8(s / 4, t + j)
                                j += 8
                            }
                            while j < c { t[j] = (((a[j] + a[c + j]) + d[j]) + d[c + j]) / 4; j += 1 }
                        }
                    }
                }
            }
        }
        return out
    }

    /// Keeps every `stride`-th pixel starting at 0 (`x[:, ::s, ::s, :]`):
    /// `[N, H, W, C] → [N, ⌈H/s⌉, ⌈W/s⌉, C]`.
    public static func subsample(_ x: Tensor, stride s: Int) throws -> Tensor {
        let (n, h, w, c) = try spatialShape(x.shape, "subsample")
        guard s > 0 else { throw TensorError.invalidArgument("subsample: stride \(s) must be positive") }
        let ho = (h + s - 1) / s, wo = (w + s - 1) / s
        var out = uninitialized([n, ho, wo, c])
        guard out.count > 0 else { return out }
        x.withUnsafeBufferPointer { px in
            out.withUnsafeMutableBufferPointer { po in
                let src = px.baseAddress!, dst = po.baseAddress!
                forChunks(n * ho, grain: max(1, parallelGrain / max(wo * c, 1))) { r in
                    for row in r {
                        let b = row / ho, oy = row % ho
                        let s0 = src + ((b * h + oy * s) * w) * c, d = dst + row * wo * c
                        for ox in 0..<wo { (d + ox * c).update(from: s0 + ox * s * c, count: c) }
                    }
                }
            }
        }
        return out
    }

    static func spatialShape(_ shape: [Int], _ op: String) throws -> (Int, Int, Int, Int) {
        guard shape.count == 4 else {
            throw TensorError.shapeMismatch("\(op) expects channels-last [N, H, W, C], got \(Shape.describe(shape))")
        }
        return (shape[0], shape[1], shape[2], shape[3])
    }
}

extension Kernels.Reference {
    public static func upsampleNearest2x(_ x: Tensor) throws -> Tensor {
        let (n, h, w, c) = try Kernels.spatialShape(x.shape, "upsampleNearest2x")
        var out = Tensor(zeros: [n, 2 * h, 2 * w, c])
        for b in 0..<n { for y in 0..<(2 * h) { for xx in 0..<(2 * w) { for ch in 0..<c {
            out[b, y, xx, ch] = x[b, y / 2, xx / 2, ch]
        } } } }
        return out
    }

    public static func avgPool2x(_ x: Tensor) throws -> Tensor {
        let (n, h, w, c) = try Kernels.spatialShape(x.shape, "avgPool2x")
        var out = Tensor(zeros: [n, h / 2, w / 2, c])
        for b in 0..<n { for y in 0..<(h / 2) { for xx in 0..<(w / 2) { for ch in 0..<c {
            let s = Double(x[b, 2 * y, 2 * xx, ch]) + Double(x[b, 2 * y, 2 * xx + 1, ch])
                + Double(x[b, 2 * y + 1, 2 * xx, ch]) + Double(x[b, 2 * y + 1, 2 * xx + 1, ch])
            out[b, y, xx, ch] = Float(s / 4)
        } } } }
        return out
    }
}
