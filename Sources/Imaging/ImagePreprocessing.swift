import TensorStorage

/// The reference's image load transform, bit-exact: Pillow's bilinear resize (fixed-point
/// integer arithmetic), torchvision's `Resize(shorter side)` + `CenterCrop` (zero padding,
/// round-half-to-even offsets), and the conversion to float in [-1, 1].
public enum ImagePreprocessing {
    /// Pillow `Image.resize((width, height), BILINEAR)`: separable, horizontal pass first, the
    /// intermediate rounded to 8 bits, weights in 22-bit fixed point.
    public static func resizeBilinearPIL(_ image: RGBImage, width: Int, height: Int) throws(ImagingError) -> RGBImage {
        guard width > 0, height > 0 else {
            throw ImagingError.invalidSize("resize target \(width)×\(height) must be positive")
        }
        var img = image
        if width != img.width {
            let k = PILFilter(inSize: img.width, outSize: width)
            var out = [UInt8](repeating: 0, count: width * img.height * 3)
            img.pixels.withUnsafeBufferPointer { src in
                for y in 0..<img.height {
                    let row = y * img.width * 3
                    for x in 0..<width {
                        for c in 0..<3 {
                            out[(y * width + x) * 3 + c] = k.apply(x) { src[row + $0 * 3 + c] }
                        }
                    }
                }
            }
            img = try RGBImage(width: width, height: img.height, pixels: out)
        }
        if height != img.height {
            let k = PILFilter(inSize: img.height, outSize: height)
            var out = [UInt8](repeating: 0, count: img.width * height * 3)
            let w = img.width
            img.pixels.withUnsafeBufferPointer { src in
                for y in 0..<height {
                    for x in 0..<w {
                        for c in 0..<3 {
                            out[(y * w + x) * 3 + c] = k.apply(y) { src[($0 * w + x) * 3 + c] }
                        }
                    }
                }
            }
            img = try RGBImage(width: w, height: height, pixels: out)
        }
        return img
    }

    /// torchvision `Resize(size)` with an int: the shorter side becomes `size`, the longer
    /// `int(size·long/short)` (truncated); an image already that size is returned unchanged.
    public static func resizeShorterSide(_ image: RGBImage, to size: Int) throws(ImagingError) -> RGBImage {
        guard size > 0 else { throw ImagingError.invalidSize("resize size \(size) must be positive") }
        let (w, h) = (image.width, image.height)
        let (short, long) = w <= h ? (w, h) : (h, w)
        let newLong = Int(Double(size * long) / Double(short))
        let (nw, nh) = w <= h ? (size, newLong) : (newLong, size)
        if nw == w && nh == h { return image }
        return try resizeBilinearPIL(image, width: nw, height: nh)
    }

    /// torchvision `CenterCrop((height, width))`: an image smaller than the crop is first
    /// padded with zeros (left/top `Δ//2`, right/bottom `(Δ+1)//2`); the crop offset is
    /// `round((size − crop)/2)` with Python's round-half-to-even.
    public static func centerCrop(_ image: RGBImage, height: Int, width: Int) throws(ImagingError) -> RGBImage {
        guard width > 0, height > 0 else {
            throw ImagingError.invalidSize("crop size \(width)×\(height) must be positive")
        }
        var img = image
        if width > img.width || height > img.height {
            let dw = max(width - img.width, 0), dh = max(height - img.height, 0)
            let left = dw / 2, top = dh / 2
            let pw = img.width + dw, ph = img.height + dh
            var padded = [UInt8](repeating: 0, count: pw * ph * 3)
            for y in 0..<img.height {
                let s = y * img.width * 3, d = ((y + top) * pw + left) * 3
                padded[d ..< d + img.width * 3] = img.pixels[s ..< s + img.width * 3]
            }
            img = try RGBImage(width: pw, height: ph, pixels: padded)
        }
        if img.width == width && img.height == height { return img }
        let top = roundHalfEven(Double(img.height - height) / 2)
        let left = roundHalfEven(Double(img.width - width) / 2)
        var out = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            let s = ((y + top) * img.width + left) * 3, d = y * width * 3
            out[d ..< d + width * 3] = img.pixels[s ..< s + width * 3]
        }
        return try RGBImage(width: width, height: height, pixels: out)
    }

    /// The reference load transform: `Resize(min(height, width))` then `CenterCrop((height, width))`.
    public static func resizeAndCenterCrop(_ image: RGBImage, height: Int, width: Int) throws(ImagingError) -> RGBImage {
        try centerCrop(resizeShorterSide(image, to: min(height, width)), height: height, width: width)
    }

    /// `ToTensor` + `Normalize(0.5, 0.5)`: `[1, 3, H, W]` with `(u8/255 − 0.5)/0.5` in float32.
    public static func normalizedTensor(_ image: RGBImage) -> Tensor {
        let (w, h) = (image.width, image.height)
        return Tensor(shape: [1, 3, h, w]) { dst in
            image.pixels.withUnsafeBufferPointer { src in
                for c in 0..<3 {
                    for i in 0..<(w * h) {
                        dst[c * w * h + i] = (Float(src[i * 3 + c]) / 255 - 0.5) / 0.5
                    }
                }
            }
        }
    }

    /// Python's `round()` of a double to an int: ties go to the even neighbour.
    static func roundHalfEven(_ x: Double) -> Int {
        Int(x.rounded(.toNearestOrEven))
    }
}
