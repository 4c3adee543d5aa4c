import CDNNL
import Synchronization

/// An operator's weights in every layout its primitives have asked for, each packed once.
///
/// Primitives are created per input shape (and thread count); most of them accept the layout
/// packed first, and those that want another get a reorder of an existing copy, made once and
/// shared by every primitive wanting the same layout (`dnnl_memory_desc_equal`).
final class OneDNNWeightPacks: Sendable {
    private let engine: OneDNNEngine
    /// The copy new layouts are reordered from: the plain weights when `keepPlain` was asked
    /// for (Winograd's layout cannot be reordered into anything else), otherwise the first
    /// packed layout, so that the plain copy is freed once packing is done.
    private let origin: OneDNNMemoryDescriptor
    private let originBuffer: OneDNNAlignedBuffer
    private let layouts: Mutex<[(descriptor: OneDNNMemoryDescriptor, buffer: OneDNNAlignedBuffer)]>
    /// The first packed layout: a primitive preferring a layout not packed yet tries this one.
    let primary: OneDNNMemoryDescriptor

    init(engine: OneDNNEngine, plain: OneDNNMemoryDescriptor, plainBuffer: OneDNNAlignedBuffer,
         firstLayout: OneDNNMemoryDescriptor, keepPlain: Bool) throws {
        self.engine = engine
        let packed = try Self.pack(engine: engine, from: plain, buffer: plainBuffer, to: firstLayout)
        primary = firstLayout
        layouts = Mutex([(firstLayout, packed)])
        if keepPlain {
            origin = plain; originBuffer = plainBuffer
        } else {
            origin = firstLayout; originBuffer = packed
        }
    }

    /// The weights in `layout`, packing them on first request.
    func buffer(for layout: OneDNNMemoryDescriptor) throws -> OneDNNAlignedBuffer {
        // Packing under the lock keeps two threads from packing the same layout twice; it
        // happens once per layout, so nobody waits on it in steady state.
        try layouts.withLock { list in
            if let hit = list.first(where: { $0.descriptor == layout }) { return hit.buffer }
            let packed = try Self.pack(engine: engine, from: origin, buffer: originBuffer, to: layout)
            list.append((layout, packed))
            return packed
        }
    }

    /// Whether `layout` is packed already.
    func contains(_ layout: OneDNNMemoryDescriptor) -> Bool {
        layouts.withLock { $0.contains { $0.descriptor == layout } }
    }

    /// Number of distinct packed layouts (for tests: the same layout is never packed twice).
    var layoutCount: Int { layouts.withLock { $0.count } }

    private static func pack(engine: OneDNNEngine, from: OneDNNMemoryDescriptor, buffer: OneDNNAlignedBuffer,
                             to: OneDNNMemoryDescriptor) throws -> OneDNNAlignedBuffer {
        let out = OneDNNAlignedBuffer(byteCount: to.byteCount)
        if from == to {
            out.pointer.copyMemory(from: buffer.pointer, byteCount: to.byteCount)
            return out
        }
        let reorder = try OneDNNPrimitive.reorder(engine: engine.handle, owner: engine, what: "weight packing", from: from, to: to)
        try reorder.execute([OneDNNArgument(DNNL_ARG_FROM, from, buffer.pointer),
                             OneDNNArgument(DNNL_ARG_TO, to, out.pointer)], on: engine)
        return out
    }
}
