import TensorStorage

/// A Linear layer on `cblas_sgemm`. The weight stays PyTorch's `[out, in]` in fp32 (OpenBLAS
/// packs panels itself per call); a bias is written into the output first and accumulated
/// with beta = 1, so no second pass over the output.
struct OpenBLASLinear: LinearOperator {
    let weight: Tensor
    let bias: Tensor?
    let precision: Precision
    let inFeatures: Int
    let outFeatures: Int

    init(weight: TensorData, bias: TensorData?, precision: Precision) throws {
        let s = try LinearShapes(weight: weight, bias: bias)
        inFeatures = s.inFeatures
        outFeatures = s.outFeatures
        let w = weight.toTensor()
        self.weight = precision == .bf16 ? Kernels.roundedToBF16(w) : w
        self.bias = bias?.toTensor()
        self.precision = precision
    }

    func callAsFunction(_ x: Tensor) throws -> Tensor {
        guard let last = x.shape.last, last == inFeatures else {
            throw TensorError.shapeMismatch("linear expects [..., \(inFeatures)], got \(Shape.describe(x.shape))")
        }
        let x = precision == .bf16 ? Kernels.roundedToBF16(x) : x
        let rows = x.count / max(inFeatures, 1)
        return Tensor(shape: Array(x.shape.dropLast()) + [outFeatures]) { out in
            fillRows(out, rows: rows, with: bias, width: outFeatures)
            if rows == 0 || outFeatures == 0 || inFeatures == 0 {
                if bias == nil { out.update(repeating: 0) } // an empty sum
                return
            }
            let beta: Float = bias == nil ? 0 : 1
            x.withUnsafeBufferPointer { px in
                weight.withUnsafeBufferPointer { pw in
                    OpenBLASBackend.sgemm(false, true, rows, outFeatures, inFeatures, 1,
                                          px.baseAddress!, inFeatures, pw.baseAddress!, inFeatures,
                                          beta, out.baseAddress!, outFeatures)
                }
            }
        }
    }
}

/// Writes `bias` into every row of a `[rows, width]` buffer (the GEMM then accumulates into
/// it with beta = 1; without a bias it overwrites with beta = 0).
func fillRows(_ out: UnsafeMutableBufferPointer<Float>, rows: Int, with bias: Tensor?, width: Int) {
    guard let bias else { return }
    bias.withUnsafeBufferPointer { pb in
        for r in 0..<rows {
            (out.baseAddress! + r * width).update(from: pb.baseAddress!, count: width)
        }
    }
}
