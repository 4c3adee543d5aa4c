import CDNNL
import Synchronization
import TensorStorage

/// An operator's weights in the layout its primitives read, packed straight from where they
/// arrived (usually a mapped checkpoint) with no plain copy kept alive.
///
/// Every primitive of an operator is created against the first packed layout (`primary`), so a
/// layer holds one packed copy however many input shapes it sees; only an implementation that
/// cannot read that layout gets a second one (counted by `layoutCount`, which tests and `bench
/// model` check stays 1).
///
/// With `narrowed` residency (bf16 precision where oneDNN's bf16 kernels are not the faster
/// choice) each packed layout is produced in fp32 and kept as bfloat16, element by element:
/// half the memory. `withWeights` widens it back into a workspace block, one layer at a time,
/// right before the fp32 primitive reads it.
final class OneDNNWeightPacks: Sendable {
    /// How the packed bytes are held.
    enum Residency: Sendable, Equatable {
        /// In the primitive's operand type (fp32, or bf16 for oneDNN's native bf16 kernels).
        case operandType
        /// fp32 layouts stored as bfloat16 and widened per call.
        case narrowed
    }

    private struct Layout: @unchecked Sendable {
        let descriptor: OneDNNMemoryDescriptor
        let buffer: OneDNNAlignedBuffer
    }

    private let engine: OneDNNEngine
    let residency: Residency
    /// Where further layouts are packed from: the source tensor (a view of the mapped file,
    /// costing no resident memory once its pages are released; or any tensor when the first
    /// layout cannot be reordered further, as Winograd's), else the primary layout.
    private let source: TensorData?
    private let plain: OneDNNMemoryDescriptor
    private let layouts: Mutex<[Layout]>
    /// The first packed layout: every primitive is asked to read this one first.
    let primary: OneDNNMemoryDescriptor

    /// Packs `source` (f32, f16 or bf16 values; `plain` describes them in the operand type)
    /// into `firstLayout`. `keepSource` keeps the source as the origin of later layouts even
    /// when it is heap memory (needed when `firstLayout` cannot be reordered from).
    init(engine: OneDNNEngine, source: TensorData, plain: OneDNNMemoryDescriptor,
         firstLayout: OneDNNMemoryDescriptor, residency: Residency, keepSource: Bool) throws {
        self.engine = engine
        self.residency = residency
        self.plain = plain
        primary = firstLayout
        let packed = try Self.pack(engine: engine, source: source, plain: plain, to: firstLayout, residency: residency)
        layouts = Mutex([Layout(descriptor: firstLayout, buffer: packed)])
        self.source = keepSource || source.isFileMapped ? source : nil
        source.releaseFilePages()
    }

    /// Calls `body` with the weights in `layout` as the primitive reads them, packing that layout
    /// on first request and widening narrowed weights into a workspace block meanwhile.
    func withWeights<R>(for layout: OneDNNMemoryDescriptor, _ body: (UnsafeMutableRawPointer) throws -> R) throws -> R {
        let stored = try buffer(for: layout)
        guard residency == .narrowed else { return try body(stored.pointer) }
        let count = layout.byteCount / 4
        let scratch = engine.workspace.borrow(layout.byteCount)
        defer { engine.workspace.giveBack(scratch) }
        Widening.bf16ToF32(UnsafeRawPointer(stored.pointer), scratch.pointer.bindMemory(to: Float.self, capacity: max(count, 1)),
                           count: count)
        return try body(scratch.pointer)
    }

    /// Whether `layout` is packed already.
    func contains(_ layout: OneDNNMemoryDescriptor) -> Bool {
        layouts.withLock { $0.contains { $0.descriptor == layout } }
    }

    /// Number of distinct packed layouts so far (1 unless an implementation refused `primary`).
    var layoutCount: Int { layouts.withLock { $0.count } }

    /// Bytes the packed weights occupy.
    var residentBytes: Int { layouts.withLock { $0.reduce(0) { $0 + $1.buffer.byteCount } } }

    private func buffer(for layout: OneDNNMemoryDescriptor) throws -> OneDNNAlignedBuffer {
        // Packing under the lock keeps two threads from packing the same layout twice; it
        // happens at most once per layout, so nobody waits on it in steady state.
        try layouts.withLock { list in
            if let hit = list.first(where: { $0.descriptor == layout }) { return hit.buffer }
            let packed: OneDNNAlignedBuffer
            if let source {
                packed = try Self.pack(engine: engine, source: source, plain: plain, to: layout, residency: residency)
                source.releaseFilePages()
            } else {
                let first = list[0]
                if residency == .narrowed {
                    let wide = OneDNNAlignedBuffer(byteCount: first.descriptor.byteCount)
                    Widening.bf16ToF32(UnsafeRawPointer(first.buffer.pointer),
                                       wide.pointer.bindMemory(to: Float.self, capacity: max(first.descriptor.byteCount / 4, 1)),
                                       count: first.descriptor.byteCount / 4)
                    packed = try Self.reorder(engine: engine, from: first.descriptor, pointer: wide.pointer, to: layout, residency: residency)
                } else {
                    packed = try Self.reorder(engine: engine, from: first.descriptor, pointer: first.buffer.pointer,
                                              to: layout, residency: residency)
                }
            }
            list.append(Layout(descriptor: layout, buffer: packed))
            return packed
        }
    }

    /// `source` in the operand type of `plain`, reordered into `layout`. f32 data is read in
    /// place (no copy); other dtypes go through one temporary block of this layer's size.
    private static func pack(engine: OneDNNEngine, source: TensorData, plain: OneDNNMemoryDescriptor,
                             to layout: OneDNNMemoryDescriptor, residency: Residency) throws -> OneDNNAlignedBuffer {
        let n = source.elementCount
        let bf16Operands = plain.dataType == dnnl_bf16
        let inPlace = source.withUnsafeBytes { raw in
            (source.dtype == .f32 && !bf16Operands) || (source.dtype == .bf16 && bf16Operands)
                ? (raw.baseAddress.map { Int(bitPattern: $0) % source.dtype.byteSize == 0 } ?? false) : false
        }
        if inPlace {
            return try source.withUnsafeBytes { raw in
                try reorder(engine: engine, from: plain, pointer: UnsafeMutableRawPointer(mutating: raw.baseAddress!),
                            to: layout, residency: residency)
            }
        }
        if bf16Operands {
            // bf16 kernels read bf16: f32 (or f16) values are rounded once into a temporary.
            let narrow = OneDNNAlignedBuffer(byteCount: n * 2)
            if source.dtype == .f32 {
                source.withUnsafeBytes { Widening.f32ToBF16($0.baseAddress!.assumingMemoryBound(to: Float.self), narrow.pointer, count: n) }
            } else {
                let wide = OneDNNAlignedBuffer(byteCount: n * 4)
                let floats = wide.pointer.bindMemory(to: Float.self, capacity: max(n, 1))
                source.widen(into: floats)
                Widening.f32ToBF16(floats, narrow.pointer, count: n)
            }
            return try reorder(engine: engine, from: plain, pointer: narrow.pointer, to: layout, residency: residency)
        }
        let staged = OneDNNAlignedBuffer(byteCount: n * 4)
        source.widen(into: staged.pointer.bindMemory(to: Float.self, capacity: max(n, 1)))
        return try reorder(engine: engine, from: plain, pointer: staged.pointer, to: layout, residency: residency)
    }

    /// One reorder into a new block; narrowed residency rounds the result to bf16 afterwards.
    private static func reorder(engine: OneDNNEngine, from: OneDNNMemoryDescriptor, pointer: UnsafeMutableRawPointer,
                                to: OneDNNMemoryDescriptor, residency: Residency) throws -> OneDNNAlignedBuffer {
        let out = OneDNNAlignedBuffer(byteCount: to.byteCount)
        if from == to {
            out.pointer.copyMemory(from: pointer, byteCount: to.byteCount)
        } else {
            let reorder = try OneDNNPrimitive.reorder(engine: engine.handle, owner: engine, what: "weight packing", from: from, to: to)
            try reorder.execute([OneDNNArgument(DNNL_ARG_FROM, from, pointer),
                                 OneDNNArgument(DNNL_ARG_TO, to, out.pointer)], on: engine)
        }
        guard residency == .narrowed else { return out }
        let count = to.byteCount / 4
        let narrow = OneDNNAlignedBuffer(byteCount: count * 2)
        Widening.f32ToBF16(out.pointer.bindMemory(to: Float.self, capacity: max(count, 1)), narrow.pointer, count: count)
        return narrow
    }
}
