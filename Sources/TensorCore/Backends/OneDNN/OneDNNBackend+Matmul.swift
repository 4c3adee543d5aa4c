import CDNNL
import TensorStorage

extension OneDNNBackend {
    /// Batched matmul on oneDNN's matmul primitive. Transposed operands are described by
    /// strides (no copies); alpha is an output scale (or an eltwise post-op where an
    /// implementation takes no output scales). Native bf16 converts the operands with reorders.
    public func matmul(_ a: Tensor, _ b: Tensor, transposeA: Bool, transposeB: Bool,
                       alpha: Float, precision: Precision) throws -> Tensor {
        let p = try MatmulProblem(a.shape, b.shape, transposeA: transposeA, transposeB: transposeB)
        guard p.batch > 0, p.m > 0, p.n > 0, p.k > 0 else { return Tensor(zeros: p.outputShape) }
        // Activation × activation products: bf16 rounds both operands, natively where oneDNN has
        // bf16 kernels, else by rounding them and running the fp32 kernels (same numbers).
        if precision == .bf16 && engine.nativeBF16 {
            do {
                return try matmul(a, b, p, transposeA: transposeA, transposeB: transposeB, alpha: alpha, mode: .native)
            } catch where OneDNNStatus.isUnimplemented(error) {
                // bf16 kernels exist (the probe) but not for this problem: same numbers by emulation.
                return try matmul(a, b, p, transposeA: transposeA, transposeB: transposeB, alpha: alpha, mode: .emulated)
            }
        }
        return try matmul(a, b, p, transposeA: transposeA, transposeB: transposeB, alpha: alpha,
                          mode: precision == .bf16 ? .emulated : .f32)
    }

    private enum ActivationMatmulMode { case f32, native, emulated }

    private func matmul(_ a: Tensor, _ b: Tensor, _ p: MatmulProblem, transposeA: Bool, transposeB: Bool,
                        alpha: Float, mode: ActivationMatmulMode) throws -> Tensor {
        let a = mode == .emulated ? Kernels.roundedToBF16(a) : a
        let b = mode == .emulated ? Kernels.roundedToBF16(b) : b
        let (batch, m, n, k) = (p.batch, p.m, p.n, p.k)

        // Logical [batch, m, k] and [batch, k, n], whatever the storage order.
        let aStored = try OneDNNMemoryDescriptor(dims: [batch, m, k], dataType: dnnl_f32,
                                                 strides: transposeA ? [m * k, 1, m] : [m * k, k, 1])
        let bStored = try OneDNNMemoryDescriptor(dims: [batch, k, n], dataType: dnnl_f32,
                                                 strides: transposeB ? [k * n, 1, k] : [k * n, n, 1])
        let dst = try OneDNNMemoryDescriptor(dims: [batch, m, n], dataType: dnnl_f32, tag: dnnl_abc)
        let native = mode == .native
        let aOperand = native ? try OneDNNMemoryDescriptor(dims: [batch, m, k], dataType: dnnl_bf16, tag: dnnl_abc) : aStored
        let bOperand = native ? try OneDNNMemoryDescriptor(dims: [batch, k, n], dataType: dnnl_bf16, tag: dnnl_abc) : bStored
        let what = "matmul [\(batch), \(m), \(k)]\(transposeA ? "ᵀ" : "")·[\(batch), \(k), \(n)]\(transposeB ? "ᵀ" : "")"
        let primitive = try makeScaledMatmul(what: what, source: aOperand, weights: bOperand, destination: dst, alpha: alpha)
        let toBF16 = native ? try [(aStored, aOperand), (bStored, bOperand)].map { from, to in
            try OneDNNPrimitive.reorder(engine: engine.handle, owner: engine, what: "\(what) operand to bf16", from: from, to: to)
        } : []

        return try Tensor(shape: p.outputShape) { out in
            try a.withUnsafeBufferPointer { pa in
                try b.withUnsafeBufferPointer { pb in
                    var operands = [UnsafeRawPointer(pa.baseAddress!), UnsafeRawPointer(pb.baseAddress!)]
                    var converted: [OneDNNAlignedBuffer] = []
                    defer { for buffer in converted { engine.workspace.giveBack(buffer) } }
                    for (i, r) in toBF16.enumerated() {
                        let buffer = engine.workspace.borrow(r.destination.byteCount)
                        converted.append(buffer)
                        try r.execute([OneDNNArgument(DNNL_ARG_FROM, r.source, reading: operands[i]),
                                       OneDNNArgument(DNNL_ARG_TO, r.destination, buffer.pointer)], on: engine)
                        operands[i] = UnsafeRawPointer(buffer.pointer)
                    }
                    try primitive.execute([OneDNNArgument(DNNL_ARG_SRC, aOperand, reading: operands[0]),
                                           OneDNNArgument(DNNL_ARG_WEIGHTS, bOperand, reading: operands[1]),
                                           OneDNNArgument(DNNL_ARG_DST, dst, UnsafeMutableRawPointer(out.baseAddress!))],
                                          on: engine)
                }
            }
        }
    }

    private func makeScaledMatmul(what: String, source: OneDNNMemoryDescriptor, weights: OneDNNMemoryDescriptor,
                                  destination: OneDNNMemoryDescriptor, alpha: Float) throws -> OneDNNPrimitive {
        if alpha == 1 {
            return try OneDNNPrimitive.matmul(engine: engine.handle, owner: engine, what: what, source: source, weights: weights,
                                              bias: nil, destination: destination)
        }
        do {
            return try OneDNNPrimitive.matmul(engine: engine.handle, owner: engine, what: "\(what) × \(alpha)", source: source,
                                              weights: weights, bias: nil, destination: destination) { attr in
                var scale = alpha
                try OneDNNStatus.check(dnnl_primitive_attr_set_output_scales(attr, 1, 0, &scale),
                                       "dnnl_primitive_attr_set_output_scales(\(what))")
            }
        } catch where OneDNNStatus.isUnimplemented(error) {
            // Same result through an eltwise post-op: linear(x) = alpha·x + 0.
            return try OneDNNPrimitive.matmul(engine: engine.handle, owner: engine, what: "\(what) × \(alpha) (post-op)", source: source,
                                              weights: weights, bias: nil, destination: destination) { attr in
                var postOps: dnnl_post_ops_t? = nil
                try OneDNNStatus.check(dnnl_post_ops_create(&postOps), "dnnl_post_ops_create(\(what))")
                defer { dnnl_post_ops_destroy(postOps) }
                try OneDNNStatus.check(dnnl_post_ops_append_eltwise(postOps, 1, dnnl_eltwise_linear, alpha, 0),
                                       "dnnl_post_ops_append_eltwise(\(what))")
                try OneDNNStatus.check(dnnl_primitive_attr_set_post_ops(attr, postOps),
                                       "dnnl_primitive_attr_set_post_ops(\(what))")
            }
        }
    }
}
