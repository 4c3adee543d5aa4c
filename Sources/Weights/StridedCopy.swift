/// Gathers a strided view (PyTorch sizes/strides in elements) into contiguous row-major bytes.
enum StridedCopy {
    /// Copies the elements of the view `offset + Σ index[i]·strides[i]` of `source` into
    /// `destination` in row-major order. The caller has checked that every index is inside
    /// `source` and that `destination` holds exactly the view's elements.
    static func gather(from source: UnsafeRawBufferPointer, elementSize: Int, offset: Int,
                       shape: [Int], strides: [Int], into destination: UnsafeMutableRawBufferPointer) {
        let count = shape.reduce(1, *)
        guard count > 0, let src = source.baseAddress, let dst = destination.baseAddress else { return }
        guard let rank = shape.indices.last else {
            // 0-dim: one element.
            dst.copyMemory(from: src + offset * elementSize, byteCount: elementSize)
            return
        }
        let innerCount = shape[rank]
        let innerStride = strides[rank] * elementSize
        var index = [Int](repeating: 0, count: rank) // odometer over the outer dimensions
        var base = offset                              // element offset of the current row
        var out = dst
        while true {
            var p = src + base * elementSize
            for _ in 0 ..< innerCount {
                out.copyMemory(from: p, byteCount: elementSize)
                out += elementSize
                p += innerStride
            }
            // Advance the odometer, innermost outer dimension first.
            var d = rank - 1
            while d >= 0 {
                index[d] += 1
                base += strides[d]
                if index[d] < shape[d] { break }
                base -= strides[d] * shape[d]
                index[d] = 0
                d -= 1
            }
            if d < 0 { return }
        }
    }
}
