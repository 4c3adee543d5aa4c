import CDNNL
import Synchronization

/// A Linear layer on oneDNN's matmul primitive: `y = x·Wᵀ + b` over the rows of `[..., in]`.
///
/// The weight is converted (f32, bf16 values, or bf16) and packed once, at creation, into the
/// layout oneDNN's matmul asks for. Primitives are specialised per row count M, cached per
/// (M, thread count), and share one packed copy of the weights per layout. (oneDNN 2.6 does
/// accept a run-time M with weights `any`, but then resolves the layout to plain `ab` for its
/// gemm-based matmul; its blocked-weight kernels are chosen for fixed shapes.) The bias is
/// fused into the primitive.
public final class OneDNNLinear: LinearOperator {
    public let inFeatures: Int
    public let outFeatures: Int
    let mode: OneDNNComputeMode
    private let engine: OneDNNEngine
    private let bias: OneDNNAlignedBuffer?
    private let biasDescriptor: OneDNNMemoryDescriptor?
    /// nil only when the layer has no weights (in or out features zero).
    private let packs: OneDNNWeightPacks?
    private let plans = Mutex<[[Int]: OneDNNLinearPlan]>([:])

    /// Row count the weights are first packed for: the model's Linear layers see frames ×
    /// tokens rows, thousands at a time.
    static let packingRows = 4096
    /// Plans kept per operator; the model uses a handful of row counts, so this only bounds
    /// pathological callers.
    static let maximumPlans = 64

    init(engine: OneDNNEngine, weight: TensorData, bias: TensorData?, precision: Precision) throws {
        let shapes = try LinearShapes(weight: weight, bias: bias)
        inFeatures = shapes.inFeatures
        outFeatures = shapes.outFeatures
        self.engine = engine
        if let bias, outFeatures > 0 {
            self.bias = OneDNNAlignedBuffer(floatsOf: bias)
            biasDescriptor = try OneDNNMemoryDescriptor(dims: [1, outFeatures], dataType: dnnl_f32, tag: dnnl_ab)
        } else {
            self.bias = nil
            biasDescriptor = nil
        }
        var mode = OneDNNComputeMode(precision, nativeBF16: engine.nativeBF16)
        guard inFeatures > 0, outFeatures > 0 else { self.mode = mode; packs = nil; return }

        let first: OneDNNPrimitive
        do {
            first = try Self.makeMatmul(engine: engine, rows: Self.packingRows, inFeatures: inFeatures,
                                        outFeatures: outFeatures, mode: mode, weights: nil, bias: biasDescriptor)
        } catch where mode == .nativeBF16 && OneDNNStatus.isUnimplemented(error) {
            // The probe found bf16 kernels, but not for this shape: same numbers by emulation.
            mode = .emulatedBF16
            first = try Self.makeMatmul(engine: engine, rows: Self.packingRows, inFeatures: inFeatures,
                                        outFeatures: outFeatures, mode: mode, weights: nil, bias: biasDescriptor)
        }
        self.mode = mode
        // PyTorch's [out, in] row-major is oneDNN's logical [in, out] (K×N) with strides (1, in).
        let plainBuffer = mode == .nativeBF16
            ? OneDNNAlignedBuffer(bf16Of: weight)
            : OneDNNAlignedBuffer(floatsOf: weight, roundedToBF16: mode.roundsOperands)
        let plain = try OneDNNMemoryDescriptor(dims: [inFeatures, outFeatures], dataType: mode.operandType,
                                               strides: [1, inFeatures])
        let packs = try OneDNNWeightPacks(engine: engine, plain: plain, plainBuffer: plainBuffer,
                                          firstLayout: first.weights, keepPlain: false)
        self.packs = packs
        let plan = OneDNNLinearPlan(matmul: first, weights: try packs.buffer(for: first.weights),
                                    sourceToBF16: try Self.makeSourceReorder(engine: engine, rows: Self.packingRows,
                                                                            inFeatures: inFeatures, mode: mode))
        plans.withLock { $0[[Self.packingRows, Threading.threadCount]] = plan }
    }

    /// Whether the matmul reads bf16 operands (oneDNN's bf16 kernels); false for fp32 and for
    /// emulated bf16.
    public var usesNativeBF16: Bool { mode == .nativeBF16 }

    /// Implementation oneDNN picked for `rows` rows (for logs and tests).
    public func implementation(rows: Int) throws -> String { try plan(rows: rows).matmul.implementation }

    /// Distinct packed weight layouts so far.
    public var packedLayoutCount: Int { packs?.layoutCount ?? 0 }

    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        guard let last = x.shape.last, last == inFeatures else {
            throw TensorError.shapeMismatch("linear expects [..., \(inFeatures)], got \(Shape.describe(x.shape))")
        }
        let outShape = Array(x.shape.dropLast()) + [outFeatures]
        let rows = x.shape.dropLast().reduce(1, *)
        guard rows > 0, outFeatures > 0 else { return Tensor(zeros: outShape) }
        guard inFeatures > 0 else { return broadcastBias(rows: rows, shape: outShape) }

        let plan = try plan(rows: rows)
        let input = mode.roundsOperands ? Kernels.roundedToBF16(x) : x
        return try Tensor(shape: outShape) { out in
            try input.withUnsafeBufferPointer { px in
                try run(plan, rows: rows, input: UnsafeRawPointer(px.baseAddress!),
                        output: UnsafeMutableRawPointer(out.baseAddress!))
            }
        }
    }

    private func run(_ plan: OneDNNLinearPlan, rows: Int, input: UnsafeRawPointer,
                     output: UnsafeMutableRawPointer) throws {
        var source = input
        var converted: OneDNNAlignedBuffer? = nil
        defer { if let converted { engine.workspace.giveBack(converted) } }
        if let toBF16 = plan.sourceToBF16 {
            let buffer = engine.workspace.borrow(toBF16.destination.byteCount)
            converted = buffer
            try toBF16.execute([OneDNNArgument(DNNL_ARG_FROM, toBF16.source, reading: input),
                                OneDNNArgument(DNNL_ARG_TO, toBF16.destination, buffer.pointer)], on: engine)
            source = UnsafeRawPointer(buffer.pointer)
        }
        var args = [OneDNNArgument(DNNL_ARG_SRC, plan.matmul.source, reading: source),
                    OneDNNArgument(DNNL_ARG_WEIGHTS, plan.matmul.weights, plan.weights.pointer),
                    OneDNNArgument(DNNL_ARG_DST, plan.matmul.destination, output)]
        if let bias, let biasDescriptor { args.append(OneDNNArgument(DNNL_ARG_BIAS, biasDescriptor, bias.pointer)) }
        try plan.matmul.execute(args, on: engine)
    }

    /// The cached plan for `rows`, created on first use.
    private func plan(rows: Int) throws -> OneDNNLinearPlan {
        let key = [rows, Threading.threadCount]
        if let hit = plans.withLock({ $0[key] }) { return hit }
        guard let packs else { throw TensorError.invalidArgument("linear layer without weights has no plan") }

        // The implementation oneDNN prefers for this M, with the weight layout it prefers. When
        // that layout is not packed yet, the same implementation may still accept the layout
        // that is (no second copy of the weights); a different implementation is not taken,
        // since it could be a slower kernel (even reference loops) that merely reads the layout.
        var matmul = try Self.makeMatmul(engine: engine, rows: rows, inFeatures: inFeatures, outFeatures: outFeatures,
                                         mode: mode, weights: nil, bias: biasDescriptor)
        if !packs.contains(matmul.weights),
           let reuse = try? Self.makeMatmul(engine: engine, rows: rows, inFeatures: inFeatures, outFeatures: outFeatures,
                                            mode: mode, weights: packs.primary, bias: biasDescriptor),
           reuse.implementation == matmul.implementation {
            matmul = reuse
        }
        let plan = OneDNNLinearPlan(
            matmul: matmul, weights: try packs.buffer(for: matmul.weights),
            sourceToBF16: try Self.makeSourceReorder(engine: engine, rows: rows, inFeatures: inFeatures, mode: mode))
        return plans.withLock { cache in
            if let raced = cache[key] { return raced }
            if cache.count >= Self.maximumPlans, let victim = cache.keys.first(where: { $0 != key }) {
                cache[victim] = nil
            }
            cache[key] = plan
            return plan
        }
    }

    /// The matmul for M rows; `weights` nil lets oneDNN choose the weight layout.
    private static func makeMatmul(engine: OneDNNEngine, rows: Int, inFeatures: Int, outFeatures: Int,
                                   mode: OneDNNComputeMode, weights: OneDNNMemoryDescriptor?,
                                   bias: OneDNNMemoryDescriptor?) throws -> OneDNNPrimitive {
        let src = try OneDNNMemoryDescriptor(dims: [rows, inFeatures], dataType: mode.operandType, tag: dnnl_ab)
        let wei = try weights ?? OneDNNMemoryDescriptor(dims: [inFeatures, outFeatures], dataType: mode.operandType,
                                                        tag: dnnl_format_tag_any)
        let dst = try OneDNNMemoryDescriptor(dims: [rows, outFeatures], dataType: dnnl_f32, tag: dnnl_ab)
        return try OneDNNPrimitive.matmul(engine: engine.handle, owner: engine, what: "linear \(rows)×\(inFeatures)→\(outFeatures)",
                                          source: src, weights: wei, bias: bias, destination: dst)
    }

    /// f32 → bf16 conversion of the input rows, for native bf16 only.
    private static func makeSourceReorder(engine: OneDNNEngine, rows: Int, inFeatures: Int,
                                          mode: OneDNNComputeMode) throws -> OneDNNPrimitive? {
        guard mode == .nativeBF16 else { return nil }
        let from = try OneDNNMemoryDescriptor(dims: [rows, inFeatures], dataType: dnnl_f32, tag: dnnl_ab)
        let to = try OneDNNMemoryDescriptor(dims: [rows, inFeatures], dataType: dnnl_bf16, tag: dnnl_ab)
        return try OneDNNPrimitive.reorder(engine: engine.handle, owner: engine, what: "linear input to bf16", from: from, to: to)
    }

    /// A layer with zero input features outputs its bias (or zeros) for every row.
    private func broadcastBias(rows: Int, shape: [Int]) -> Tensor {
        var out = Tensor(zeros: shape)
        if let bias {
            let b = bias.pointer.assumingMemoryBound(to: Float.self)
            out.withUnsafeMutableBufferPointer { p in
                for r in 0..<rows { for o in 0..<outFeatures { p[r * outFeatures + o] = b[o] } }
            }
        }
        return out
    }
}
