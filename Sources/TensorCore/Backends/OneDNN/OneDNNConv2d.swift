import CDNNL
import Synchronization
import TensorStorage

/// A 2-D convolution on oneDNN's convolution primitive, channels-last in and out.
///
/// With AVX-512, activations stay NHWC, the layout of oneDNN's fastest kernels there, so the
/// direct path needs no format conversion. Where its kernels want blocked channels instead
/// (AVX2, and Winograd everywhere) the plan reorders the input in and the output back. The
/// weight (PyTorch `[out, in, kh, kw]`) is reordered once into the layout the implementation
/// wants and shared by the primitives of every input shape (one primitive per input shape and
/// thread count, cached). The bias is fused.
public final class OneDNNConv2d: Conv2dOperator {
    public let inChannels: Int
    public let outChannels: Int
    public let geometry: Conv2dGeometry
    let mode: OneDNNComputeMode
    private let engine: OneDNNEngine
    /// The algorithm chosen at creation (after `auto` and the creation-time fallback).
    private let chosen: ConvAlgorithm
    /// Set once some input shape had no Winograd implementation and ran direct instead.
    private let fellBack = Atomic<Bool>(false)
    private let bias: OneDNNAlignedBuffer?
    private let biasDescriptor: OneDNNMemoryDescriptor?
    private let packs: OneDNNWeightPacks?
    /// The algorithm whose layout `packs.primary` is.
    private let primaryAlgorithm: ConvAlgorithm
    private let plans = Mutex<[[Int]: OneDNNConvPlan]>([:])

    /// A plan before its weights are attached (the first one is made before they are packed).
    private typealias Parts = (convolution: OneDNNPrimitive, sourceReorder: OneDNNPrimitive?,
                               destinationReorder: OneDNNPrimitive?, algorithm: ConvAlgorithm)

    /// `auto` takes Winograd for 3×3 stride-1 convolutions at least this wide on both sides;
    /// narrower ones spend too much of their time in the input and output transforms.
    static let winogradMinimumChannels = 64
    static let maximumPlans = 64

    public var algorithm: ConvAlgorithm {
        chosen == .winograd && !fellBack.load(ordering: .relaxed) ? .winograd : .direct
    }

    init(engine: OneDNNEngine, weight: TensorData, bias: TensorData?, geometry: Conv2dGeometry,
         precision: Precision, algorithm requested: ConvAlgorithm) throws {
        let nativeBF16 = precision == .bf16 && OneDNNBF16Choice.nativeIsFaster(engine)
        let shapes = try ConvShapes(weight: weight, bias: bias, geometry: geometry)
        inChannels = shapes.inChannels
        outChannels = shapes.outChannels
        self.geometry = geometry
        self.engine = engine
        let g = geometry
        let winogradShaped = g.kernelH == 3 && g.kernelW == 3 && g.strideH == 1 && g.strideW == 1
        let wantsWinograd: Bool
        switch requested {
        case .direct: wantsWinograd = false
        case .winograd: wantsWinograd = engine.winogradAvailable
        case .auto:
            // With native bf16 the bf16 direct kernels are the faster choice; Winograd is fp32.
            wantsWinograd = engine.winogradAvailable && winogradShaped && !nativeBF16
                && inChannels >= Self.winogradMinimumChannels && outChannels >= Self.winogradMinimumChannels
        }
        if let bias, outChannels > 0 {
            self.bias = OneDNNAlignedBuffer(floatsOf: bias)
            biasDescriptor = try OneDNNMemoryDescriptor(dims: [outChannels], dataType: dnnl_f32, tag: dnnl_a)
        } else {
            self.bias = nil
            biasDescriptor = nil
        }
        guard inChannels > 0, outChannels > 0 else {
            mode = OneDNNComputeMode(precision, native: nativeBF16)
            packs = nil; chosen = .direct; primaryAlgorithm = .direct
            return
        }

        // A representative input to choose the algorithm and the first weight layout with.
        let (n, h, w) = (1, max(16, g.kernelH), max(16, g.kernelW))
        var first: Parts? = nil
        // Winograd exists in fp32 only: bf16 precision then widens bf16-resident weights.
        var mode = OneDNNComputeMode(precision, native: false)
        if wantsWinograd {
            do {
                first = try Self.makeParts(engine: engine, algorithm: .winograd, n: n, h: h, w: w, inChannels: inChannels,
                                           outChannels: outChannels, geometry: g, mode: mode, weights: nil, bias: biasDescriptor)
            } catch where OneDNNStatus.isUnimplemented(error) {
                first = nil // no Winograd kernel for this geometry: direct
            }
        }
        if first == nil {
            mode = OneDNNComputeMode(precision, native: nativeBF16)
            do {
                first = try Self.makeParts(engine: engine, algorithm: .direct, n: n, h: h, w: w, inChannels: inChannels,
                                           outChannels: outChannels, geometry: g, mode: mode, weights: nil, bias: biasDescriptor)
            } catch where mode == .nativeBF16 && OneDNNStatus.isUnimplemented(error) {
                // bf16 kernels exist (the probe) but not for this geometry: fp32 kernels, bf16 weights.
                mode = .widenedBF16
                first = try Self.makeParts(engine: engine, algorithm: .direct, n: n, h: h, w: w, inChannels: inChannels,
                                           outChannels: outChannels, geometry: g, mode: mode, weights: nil, bias: biasDescriptor)
            }
        }
        guard let parts = first else { throw TensorError.backendFailure("convolution \(g): no primitive") }
        self.mode = mode
        chosen = parts.algorithm
        primaryAlgorithm = parts.algorithm
        let plain = try OneDNNMemoryDescriptor(dims: [outChannels, inChannels, g.kernelH, g.kernelW],
                                               dataType: mode.operandType, tag: dnnl_oihw)
        // Winograd's weight format can be produced from plain weights but not converted into
        // other layouts, so a Winograd operator keeps its source (a view of the mapped file when
        // loaded from one) for direct fallbacks.
        let packs = try OneDNNWeightPacks(engine: engine, source: weight, plain: plain, firstLayout: parts.convolution.weights,
                                          residency: mode.residency, keepSource: parts.algorithm == .winograd)
        self.packs = packs
        let plan = Self.plan(parts)
        plans.withLock { $0[[n, h, w, Threading.threadCount, 0]] = plan }
    }

    /// Whether the convolution reads bf16 operands (oneDNN's bf16 kernels); false for fp32 and
    /// for widened bf16.
    public var usesNativeBF16: Bool { mode == .nativeBF16 }

    /// Algorithm and implementation oneDNN runs for this input shape, e.g. "direct jit:avx2"
    /// (for logs and tests).
    public func implementation(input: [Int]) throws -> String {
        let (n, h, w, _, _) = try ConvShapes.check(input: input, inChannels: inChannels, geometry: geometry)
        let plan = try plan(n: n, h: h, w: w)
        return "\(plan.algorithm.rawValue) \(plan.convolution.implementation)"
    }

    /// Whether the weights are resident as bf16 (native bf16 kernels or widened per call).
    public var weightsAreBF16: Bool { mode != .f32 }

    /// Distinct packed weight layouts so far.
    public var packedLayoutCount: Int { packs?.layoutCount ?? 0 }

    /// Bytes of packed weights this layer holds (bias excluded).
    public var packedBytes: Int { packs?.residentBytes ?? 0 }

    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        let (n, h, w, ho, wo) = try ConvShapes.check(input: x.shape, inChannels: inChannels, geometry: geometry)
        let outShape = [n, ho, wo, outChannels]
        guard n > 0, outChannels > 0 else { return Tensor(zeros: outShape) }
        guard inChannels > 0 else { return broadcastBias(pixels: n * ho * wo, shape: outShape) }
        let plan = try plan(n: n, h: h, w: w)
        return try Tensor(shape: outShape) { out in
            try run(plan, x, n: n, h: h, w: w, ho: ho, wo: wo, output: UnsafeMutableRawPointer(out.baseAddress!))
        }
    }

    /// `residual ← residual + conv(x)` in one pass: the convolution (or, where it writes a
    /// blocked layout, the reorder back to channels-last) adds into the residual as it writes.
    public func callAsFunction(_ x: Tensor, addingTo residual: inout Tensor) throws {
        let (n, h, w, ho, wo) = try ConvShapes.check(input: x.shape, inChannels: inChannels, geometry: geometry)
        try ResidualShapes.check(residual.shape, rows: n * ho * wo, channels: outChannels)
        guard n > 0, outChannels > 0 else { return }
        guard inChannels > 0 else {
            try Kernels.addInPlace(&residual, broadcastBias(pixels: n * ho * wo, shape: residual.shape))
            return
        }
        let plan = try plan(n: n, h: h, w: w, accumulate: true)
        try residual.withUnsafeMutableBufferPointer { out in
            try run(plan, x, n: n, h: h, w: w, ho: ho, wo: wo, output: UnsafeMutableRawPointer(out.baseAddress!))
        }
    }

    /// Runs a plan: input reorder (if any), convolution, output reorder (if any) into `output`
    /// (channels-last), each step reading and writing what its primitive was made for.
    private func run(_ plan: OneDNNConvPlan, _ x: Tensor, n: Int, h: Int, w: Int, ho: Int, wo: Int,
                     output: UnsafeMutableRawPointer) throws {
        guard let packs else { throw TensorError.invalidArgument("convolution without weights has no plan") }
        let nhwcIn = try OneDNNMemoryDescriptor(dims: [n, inChannels, h, w], dataType: dnnl_f32, tag: dnnl_nhwc)
        let nhwcOut = try OneDNNMemoryDescriptor(dims: [n, outChannels, ho, wo], dataType: dnnl_f32, tag: dnnl_nhwc)
        try x.withUnsafeBufferPointer { px in
            let conv = plan.convolution
            var source = UnsafeRawPointer(px.baseAddress!)
            var staged: OneDNNAlignedBuffer? = nil
            let blockedOut = plan.destinationReorder.map { engine.workspace.borrow($0.source.byteCount) }
            defer {
                if let staged { engine.workspace.giveBack(staged) }
                if let blockedOut { engine.workspace.giveBack(blockedOut) }
            }
            if let r = plan.sourceReorder {
                let buffer = engine.workspace.borrow(r.destination.byteCount)
                staged = buffer
                try r.execute([OneDNNArgument(DNNL_ARG_FROM, nhwcIn, reading: source),
                               OneDNNArgument(DNNL_ARG_TO, r.destination, buffer.pointer)], on: engine)
                source = UnsafeRawPointer(buffer.pointer)
            }
            let destination = blockedOut?.pointer ?? output
            try packs.withWeights(for: conv.weights) { weights in
                var args = [OneDNNArgument(DNNL_ARG_SRC, conv.source, reading: source),
                            OneDNNArgument(DNNL_ARG_WEIGHTS, conv.weights, weights),
                            OneDNNArgument(DNNL_ARG_DST, conv.destination, destination)]
                if let bias, let biasDescriptor { args.append(OneDNNArgument(DNNL_ARG_BIAS, biasDescriptor, bias.pointer)) }
                try conv.execute(args, on: engine)
            }
            if let r = plan.destinationReorder, let blockedOut {
                try r.execute([OneDNNArgument(DNNL_ARG_FROM, r.source, blockedOut.pointer),
                               OneDNNArgument(DNNL_ARG_TO, nhwcOut, output)], on: engine)
            }
        }
    }

    /// The cached plan for an input shape, created on first use.
    private func plan(n: Int, h: Int, w: Int, accumulate: Bool = false) throws -> OneDNNConvPlan {
        let key = [n, h, w, Threading.threadCount, accumulate ? 1 : 0]
        if let hit = plans.withLock({ $0[key] }) { return hit }
        guard let packs else { throw TensorError.invalidArgument("convolution without weights has no plan") }

        var parts: Parts? = nil
        if chosen == .winograd {
            do {
                parts = try makeParts(.winograd, n: n, h: h, w: w, packs: packs, accumulate: accumulate)
            } catch where OneDNNStatus.isUnimplemented(error) {
                fellBack.store(true, ordering: .relaxed)
            }
        }
        let chosenParts = try parts ?? makeParts(.direct, n: n, h: h, w: w, packs: packs, accumulate: accumulate)
        let plan = Self.plan(chosenParts)
        return plans.withLock { cache in
            if let raced = cache[key] { return raced }
            if cache.count >= Self.maximumPlans, let victim = cache.keys.first(where: { $0 != key }) {
                cache[victim] = nil
            }
            cache[key] = plan
            return plan
        }
    }

    /// Parts for one shape: the layout packed first whenever an implementation other than
    /// reference loops reads it (one copy of the weights for every input shape), else the
    /// implementation oneDNN prefers with its own layout (packed on first use).
    private func makeParts(_ algorithm: ConvAlgorithm, n: Int, h: Int, w: Int,
                           packs: OneDNNWeightPacks, accumulate: Bool) throws -> Parts {
        if algorithm == primaryAlgorithm,
           let reuse = try? Self.makeParts(engine: engine, algorithm: algorithm, n: n, h: h, w: w, inChannels: inChannels,
                                           outChannels: outChannels, geometry: geometry, mode: mode,
                                           weights: packs.primary, bias: biasDescriptor, accumulate: accumulate),
           !reuse.convolution.implementation.hasPrefix("ref") {
            return reuse
        }
        return try Self.makeParts(engine: engine, algorithm: algorithm, n: n, h: h, w: w, inChannels: inChannels,
                                  outChannels: outChannels, geometry: geometry, mode: mode, weights: nil,
                                  bias: biasDescriptor, accumulate: accumulate)
    }

    private static func makeParts(engine: OneDNNEngine, algorithm: ConvAlgorithm, n: Int, h: Int, w: Int,
                                  inChannels: Int, outChannels: Int, geometry g: Conv2dGeometry,
                                  mode: OneDNNComputeMode, weights: OneDNNMemoryDescriptor?,
                                  bias: OneDNNMemoryDescriptor?, accumulate: Bool = false) throws -> Parts {
        guard let (ho, wo) = g.outputSize(height: h, width: w) else {
            throw TensorError.shapeMismatch("conv kernel \(g) does not fit input [\(n), \(h), \(w), \(inChannels)]")
        }
        let winograd = algorithm == .winograd
        // Winograd reads and writes a blocked layout of its choice, and so does direct
        // convolution where its blocked kernels are the fast ones; otherwise NHWC as is.
        let activationTag = winograd || engine.prefersBlockedActivations ? dnnl_format_tag_any : dnnl_nhwc
        let src = try OneDNNMemoryDescriptor(dims: [n, inChannels, h, w], dataType: mode.operandType, tag: activationTag)
        let dst = try OneDNNMemoryDescriptor(dims: [n, outChannels, ho, wo], dataType: dnnl_f32, tag: activationTag)
        let wei = try weights ?? OneDNNMemoryDescriptor(dims: [outChannels, inChannels, g.kernelH, g.kernelW],
                                                        dataType: mode.operandType, tag: dnnl_format_tag_any)
        let what = "\(winograd ? "winograd" : "direct") conv \(g) [\(n), \(h), \(w), \(inChannels)]→\(outChannels)"
            + (accumulate ? " adding" : "")
        // Adding into the residual: a channels-last convolution adds as it writes; one that
        // writes a blocked layout leaves the adding to the reorder back to channels-last.
        let convolutionAdds = accumulate && activationTag == dnnl_nhwc
        let conv = try OneDNNPrimitive.convolution(
            engine: engine.handle, owner: engine, what: what,
            algorithm: winograd ? dnnl_convolution_winograd : dnnl_convolution_direct,
            source: src, weights: wei, bias: bias, destination: dst,
            strides: [g.strideH, g.strideW], paddingLeft: [g.padTop, g.padLeft], paddingRight: [g.padBottom, g.padRight]
        ) { attr in
            if convolutionAdds { try OneDNNPrimitive.addingToDestination(attr, what) }
        }

        let nhwcIn = try OneDNNMemoryDescriptor(dims: [n, inChannels, h, w], dataType: dnnl_f32, tag: dnnl_nhwc)
        let nhwcOut = try OneDNNMemoryDescriptor(dims: [n, outChannels, ho, wo], dataType: dnnl_f32, tag: dnnl_nhwc)
        let sourceReorder = conv.source == nhwcIn ? nil
            : try OneDNNPrimitive.reorder(engine: engine.handle, owner: engine, what: "\(what) input", from: nhwcIn, to: conv.source)
        let reorderAdds = accumulate && !convolutionAdds
        let destinationReorder = conv.destination == nhwcOut && !reorderAdds ? nil
            : try OneDNNPrimitive.reorder(engine: engine.handle, owner: engine, what: "\(what) output", from: conv.destination,
                                          to: nhwcOut, accumulate: reorderAdds)
        return (conv, sourceReorder, destinationReorder, algorithm)
    }

    private static func plan(_ parts: Parts) -> OneDNNConvPlan {
        OneDNNConvPlan(convolution: parts.convolution, sourceReorder: parts.sourceReorder,
                       destinationReorder: parts.destinationReorder, algorithm: parts.algorithm)
    }

    /// A convolution with zero input channels outputs its bias (or zeros) at every pixel.
    private func broadcastBias(pixels: Int, shape: [Int]) -> Tensor {
        var out = Tensor(zeros: shape)
        if let bias {
            let b = bias.pointer.assumingMemoryBound(to: Float.self)
            out.withUnsafeMutableBufferPointer { p in
                for i in 0..<pixels { for o in 0..<outChannels { p[i * outChannels + o] = b[o] } }
            }
        }
        return out
    }
}
