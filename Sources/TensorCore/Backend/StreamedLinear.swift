import TensorStorage

/// Where a layer's weights live while the model is loaded.
public enum WeightResidency: String, Sendable, CaseIterable, Codable {
    /// Packed once into the backend's layout, in anonymous memory (the UNet, VAE, Resampler:
    /// they run at every step or every job).
    case packed
    /// Read from the mapped weight file at each call and released afterwards: the layer costs
    /// no resident memory between calls. For the text and image encoders, which run once per job
    /// and are a third of the checkpoint.
    case streamed
}

extension ComputeBackend {
    /// A Linear layer with the given residency. Streaming needs a weight that views a mapped
    /// file; any other weight (built in memory, or on the reference backend) is packed.
    public func makeLinear(weight: TensorData, bias: TensorData?, precision: Precision,
                           residency: WeightResidency) throws -> any LinearOperator {
        if residency == .streamed, weight.isFileMapped, kind != .reference {
            return try StreamedLinear(weight: weight, bias: bias)
        }
        return try makeLinear(weight: weight, bias: bias, precision: precision)
    }
}

/// A Linear layer that multiplies by its weight where it lies in the mapped checkpoint
/// (`cblas_sgemm` with the `[out, in]` weight transposed in place) and then hands the pages
/// back to the page cache. f32 weights are read directly; bf16/f16 weights are widened a block
/// of output rows at a time into a bounded scratch (at most `scratchBytes`). Arithmetic is fp32
/// whatever the stored dtype, so a bf16 file loses only its weights' rounding.
struct StreamedLinear: LinearOperator {
    let weight: TensorData
    let bias: Tensor?
    let inFeatures: Int
    let outFeatures: Int

    /// Upper bound of the widening scratch.
    static let scratchBytes = 16 << 20

    init(weight: TensorData, bias: TensorData?) throws {
        let s = try LinearShapes(weight: weight, bias: bias)
        inFeatures = s.inFeatures
        outFeatures = s.outFeatures
        self.weight = weight
        self.bias = bias?.toTensor()
    }

    func callAsFunction(_ x: Tensor) throws -> Tensor {
        guard let last = x.shape.last, last == inFeatures else {
            throw TensorError.shapeMismatch("linear expects [..., \(inFeatures)], got \(Shape.describe(x.shape))")
        }
        let rows = x.count / max(inFeatures, 1)
        let (k, n) = (inFeatures, outFeatures)
        defer { weight.releaseFilePages() }
        return Tensor(shape: Array(x.shape.dropLast()) + [n]) { out in
            fillRows(out, rows: rows, with: bias, width: n)
            if rows == 0 || n == 0 || k == 0 {
                if bias == nil { out.update(repeating: 0) }
                return
            }
            let beta: Float = bias == nil ? 0 : 1
            x.withUnsafeBufferPointer { px in
                weight.withUnsafeBytes { raw in
                    // f32 in place; anything else (bf16, f16, an unaligned f32 view) widened in blocks.
                    let base = raw.baseAddress!
                    if weight.dtype == .f32, Int(bitPattern: base) % 4 == 0 {
                        OpenBLASBackend.sgemm(false, true, rows, n, k, 1, px.baseAddress!, k,
                                              base.assumingMemoryBound(to: Float.self), k, beta, out.baseAddress!, n)
                        return
                    }
                    let block = max(1, min(n, Self.scratchBytes / 4 / k))
                    // From the activation pool: the next streamed layer reuses the block.
                    let memory = ActivationMemory.allocate(byteCount: block * k * 4)
                    defer { ActivationMemory.deallocate(memory, byteCount: block * k * 4) }
                    let scratch = memory.bindMemory(to: Float.self, capacity: block * k)
                    var o = 0
                    while o < n {
                        let count = min(block, n - o)
                        weight.widen(elements: (o * k) ..< ((o + count) * k), into: scratch)
                        OpenBLASBackend.sgemm(false, true, rows, count, k, 1, px.baseAddress!, k,
                                              scratch, k, beta, out.baseAddress! + o, n)
                        o += count
                    }
                }
            }
        }
    }
}
