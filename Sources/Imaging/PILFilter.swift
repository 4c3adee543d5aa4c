/// Pillow's precomputed bilinear coefficients for one axis (`precompute_coeffs` +
/// `normalize_coeffs_8bpc`), evaluated in the same double-precision order.
struct PILFilter {
    static let precisionBits = 22
    let bounds: [(lo: Int, count: Int)]
    let weights: [Int] // kmax per output
    let kmax: Int

    init(inSize: Int, outSize: Int) {
        let scale = Double(inSize) / Double(outSize)
        let filterScale = max(scale, 1)
        let support = 1.0 * filterScale // bilinear support is 1
        kmax = Int(support.rounded(.up)) * 2 + 1
        var bounds: [(Int, Int)] = []
        var weights = [Int](repeating: 0, count: outSize * kmax)
        var k = [Double](repeating: 0, count: kmax)
        for xx in 0..<outSize {
            let center = (Double(xx) + 0.5) * scale
            let ss = 1.0 / filterScale
            let xmin = max(Int(center - support + 0.5), 0) // C's (int) truncates toward zero
            let xmax = min(Int(center + support + 0.5), inSize) - xmin
            var ww = 0.0
            for x in 0..<xmax {
                let t = abs((Double(x + xmin) - center + 0.5) * ss)
                let w = t < 1 ? 1 - t : 0
                k[x] = w
                ww += w
            }
            for x in 0..<xmax {
                let v = ww != 0 ? k[x] / ww : k[x]
                let f = v * Double(1 << Self.precisionBits)
                weights[xx * kmax + x] = v < 0 ? Int(-0.5 + f) : Int(0.5 + f)
            }
            bounds.append((xmin, xmax))
        }
        self.bounds = bounds
        self.weights = weights
    }

    /// One output sample from the input samples `pixel(j)` of its window.
    @inline(__always)
    func apply(_ i: Int, _ pixel: (Int) -> UInt8) -> UInt8 {
        let (lo, n) = bounds[i]
        var ss = 1 << (Self.precisionBits - 1)
        for j in 0..<n { ss += Int(pixel(lo + j)) * weights[i * kmax + j] }
        return UInt8(clamping: ss >> Self.precisionBits)
    }
}
