import CDNNL
import Synchronization
import TensorStorage

/// A Linear layer on oneDNN's matmul primitive: `y = x·Wᵀ + b` over the rows of `[..., in]`.
///
/// The weight is packed once, at creation, straight from where it arrived (a mapped checkpoint
/// is read in place), into the layout oneDNN's matmul asks for; the file's pages are released
/// afterwards. Primitives are specialised per row count M and cached per (M, thread count), and
/// every one of them reads that single packed copy (see `OneDNNWeightPacks`). In bf16 the
/// packed weights are resident as bf16: read natively by oneDNN's bf16 kernels where those are
/// the faster choice on this CPU, else widened per call for the fp32 kernels
/// (`OneDNNBF16Choice`). The bias is fused into the primitive.
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

    convenience init(engine: OneDNNEngine, weight: TensorData, bias: TensorData?, precision: Precision) throws {
        try self.init(engine: engine, weight: weight, bias: bias, precision: precision,
                      nativeBF16: precision == .bf16 && OneDNNBF16Choice.nativeIsFaster(engine))
    }

    /// `nativeBF16` picks oneDNN's bf16 kernels for bf16 precision (else widened weights).
    init(engine: OneDNNEngine, weight: TensorData, bias: TensorData?, precision: Precision, nativeBF16: Bool) throws {
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
        var mode = OneDNNComputeMode(precision, native: nativeBF16 && engine.nativeBF16)
        guard inFeatures > 0, outFeatures > 0 else { self.mode = mode; packs = nil; return }

        let first: OneDNNPrimitive
        do {
            first = try Self.makeMatmul(engine: engine, rows: Self.packingRows, inFeatures: inFeatures,
                                        outFeatures: outFeatures, mode: mode, weights: nil, bias: biasDescriptor)
        } catch where mode == .nativeBF16 && OneDNNStatus.isUnimplemented(error) {
            // The probe found bf16 kernels, but not for this shape: fp32 kernels, bf16 weights.
            mode = .widenedBF16
            first = try Self.makeMatmul(engine: engine, rows: Self.packingRows, inFeatures: inFeatures,
                                        outFeatures: outFeatures, mode: mode, weights: nil, bias: biasDescriptor)
        }
        self.mode = mode
        // PyTorch's [out, in] row-major is oneDNN's logical [in, out] (K×N) with strides (1, in).
        let plain = try OneDNNMemoryDescriptor(dims: [inFeatures, outFeatures], dataType: mode.operandType,
                                               strides: [1, inFeatures])
        packs = try OneDNNWeightPacks(engine: engine, source: weight, plain: plain, firstLayout: first.weights,
                                      residency: mode.residency, keepSource: false)
        let plan = OneDNNLinearPlan(matmul: first,
                                    sourceToBF16: try Self.makeSourceReorder(engine: engine, rows: Self.packingRows,
                                                                            inFeatures: inFeatures, mode: mode))
        plans.withLock { $0[[Self.packingRows, Threading.threadCount, 0]] = plan }
    }

    /// Whether the matmul reads bf16 operands (oneDNN's bf16 kernels); false for fp32 and for
    /// widened bf16.
    public var usesNativeBF16: Bool { mode == .nativeBF16 }

    /// Implementation oneDNN picked for `rows` rows (for logs and tests).
    public func implementation(rows: Int) throws -> String { try plan(rows: rows).matmul.implementation }

    /// Whether the weights are resident as bf16 (native bf16 kernels or widened per call).
    public var weightsAreBF16: Bool { mode != .f32 }

    /// Distinct packed weight layouts so far.
    public var packedLayoutCount: Int { packs?.layoutCount ?? 0 }

    /// Bytes of packed weights this layer holds (bias excluded).
    public var packedBytes: Int { packs?.residentBytes ?? 0 }

    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        guard let last = x.shape.last, last == inFeatures else {
            throw TensorError.shapeMismatch("linear expects [..., \(inFeatures)], got \(Shape.describe(x.shape))")
        }
        let outShape = Array(x.shape.dropLast()) + [outFeatures]
        let rows = x.shape.dropLast().reduce(1, *)
        guard rows > 0, outFeatures > 0 else { return Tensor(zeros: outShape) }
        guard inFeatures > 0 else { return broadcastBias(rows: rows, shape: outShape) }

        let plan = try plan(rows: rows)
        return try Tensor(shape: outShape) { out in
            try x.withUnsafeBufferPointer { px in
                try run(plan, rows: rows, input: UnsafeRawPointer(px.baseAddress!),
                        output: UnsafeMutableRawPointer(out.baseAddress!))
            }
        }
    }

    /// `residual[firstRow + i] += (x·Wᵀ + b)[i]` in one pass: the matmul adds into the residual
    /// as it writes (sum post-op).
    public func callAsFunction(_ x: Tensor, addingTo residual: inout Tensor, atRow firstRow: Int) throws {
        guard let last = x.shape.last, last == inFeatures else {
            throw TensorError.shapeMismatch("linear expects [..., \(inFeatures)], got \(Shape.describe(x.shape))")
        }
        let rows = x.shape.dropLast().reduce(1, *)
        try ResidualShapes.check(residual.shape, rows: rows, channels: outFeatures, atRow: firstRow)
        guard rows > 0, outFeatures > 0 else { return }
        guard inFeatures > 0 else {
            try Kernels.addInPlace(&residual, broadcastBias(rows: rows, shape: [rows, outFeatures]),
                                   atElement: firstRow * outFeatures)
            return
        }
        let plan = try plan(rows: rows, accumulate: true)
        try x.withUnsafeBufferPointer { px in
            try residual.withUnsafeMutableBufferPointer { pr in
                try run(plan, rows: rows, input: UnsafeRawPointer(px.baseAddress!),
                        output: UnsafeMutableRawPointer(pr.baseAddress! + firstRow * outFeatures))
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
        guard let packs else { throw TensorError.invalidArgument("linear layer without weights has no plan") }
        try packs.withWeights(for: plan.matmul.weights) { weights in
            var args = [OneDNNArgument(DNNL_ARG_SRC, plan.matmul.source, reading: source),
                        OneDNNArgument(DNNL_ARG_WEIGHTS, plan.matmul.weights, weights),
                        OneDNNArgument(DNNL_ARG_DST, plan.matmul.destination, output)]
            if let bias, let biasDescriptor { args.append(OneDNNArgument(DNNL_ARG_BIAS, biasDescriptor, bias.pointer)) }
            try plan.matmul.execute(args, on: engine)
        }
    }

    /// The cached plan for `rows`, created on first use; `accumulate` adds into the output.
    private func plan(rows: Int, accumulate: Bool = false) throws -> OneDNNLinearPlan {
        let key = [rows, Threading.threadCount, accumulate ? 1 : 0]
        if let hit = plans.withLock({ $0[key] }) { return hit }
        guard let packs else { throw TensorError.invalidArgument("linear layer without weights has no plan") }

        // Every row count reads the layout packed first: oneDNN's matmul accepts it for any M,
        // and a second layout would be a second copy of the weights. Only when no
        // implementation but reference loops reads it does this M get the layout it prefers.
        let onPrimary = try? Self.makeMatmul(engine: engine, rows: rows, inFeatures: inFeatures, outFeatures: outFeatures,
                                             mode: mode, weights: packs.primary, bias: biasDescriptor, accumulate: accumulate)
        let matmul = try onPrimary.flatMap { $0.implementation.hasPrefix("ref") ? nil : $0 }
            ?? Self.makeMatmul(engine: engine, rows: rows, inFeatures: inFeatures, outFeatures: outFeatures,
                               mode: mode, weights: nil, bias: biasDescriptor, accumulate: accumulate)
        let plan = OneDNNLinearPlan(
            matmul: matmul,
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
                                   bias: OneDNNMemoryDescriptor?, accumulate: Bool = false) throws -> OneDNNPrimitive {
        let src = try OneDNNMemoryDescriptor(dims: [rows, inFeatures], dataType: mode.operandType, tag: dnnl_ab)
        let wei = try weights ?? OneDNNMemoryDescriptor(dims: [inFeatures, outFeatures], dataType: mode.operandType,
                                                        tag: dnnl_format_tag_any)
        let dst = try OneDNNMemoryDescriptor(dims: [rows, outFeatures], dataType: dnnl_f32, tag: dnnl_ab)
        let what = "linear \(rows)×\(inFeatures)→\(outFeatures)\(accumulate ? " adding" : "")"
        return try OneDNNPrimitive.matmul(engine: engine.handle, owner: engine, what: what,
                                          source: src, weights: wei, bias: bias, destination: dst) { attr in
            if accumulate { try OneDNNPrimitive.addingToDestination(attr, what) }
        }
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
