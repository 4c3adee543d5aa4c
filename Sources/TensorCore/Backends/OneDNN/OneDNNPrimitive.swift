import CDNNL
import TensorStorage

/// An executable oneDNN primitive and the memory layouts its implementation settled on.
///
/// `@unchecked Sendable`: a primitive is immutable once created, and oneDNN allows executing
/// one primitive from several threads at once provided each execution has its own scratchpad.
/// Every primitive here is therefore created with `dnnl_scratchpad_mode_user` and each
/// `execute` borrows a scratchpad of its own. (With the library-managed scratchpad of Debian's build,
/// where DNNL_ENABLE_CONCURRENT_EXEC is off, a primitive may not even migrate between threads,
/// which Swift concurrency would do freely.)
final class OneDNNPrimitive: @unchecked Sendable {
    private let handle: dnnl_primitive_t
    /// What it computes, for error messages.
    let what: String
    /// oneDNN's name for the implementation it picked (e.g. "jit:avx2", "gemm:jit", "ref:any").
    let implementation: String
    /// Layouts of the source, weights and destination (the first input/output of a reorder).
    let source: OneDNNMemoryDescriptor
    let weights: OneDNNMemoryDescriptor
    let destination: OneDNNMemoryDescriptor
    private let scratchpad: OneDNNMemoryDescriptor
    private let scratchpadBytes: Int
    /// The engine the primitive was created on, kept alive as long as the primitive (oneDNN's
    /// objects refer to their engine, which must not be destroyed first). nil only for the capability probes
    /// that `OneDNNEngine.init` runs and destroys before the engine object exists.
    private let owner: OneDNNEngine?

    private init(descriptor pd: dnnl_primitive_desc_t, what: String, owner: OneDNNEngine?) throws {
        self.owner = owner
        func md(_ query: dnnl_query_t) -> OneDNNMemoryDescriptor {
            OneDNNMemoryDescriptor(dnnl_primitive_desc_query_md(pd, query, 0)?.pointee ?? dnnl_memory_desc_t())
        }
        source = md(dnnl_query_src_md)
        weights = md(dnnl_query_weights_md)
        destination = md(dnnl_query_dst_md)
        scratchpad = md(dnnl_query_scratchpad_md)
        scratchpadBytes = scratchpad.byteCount
        var name: UnsafePointer<CChar>? = nil
        if dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &name) == dnnl_success, let name {
            implementation = String(cString: name)
        } else {
            implementation = "unknown"
        }
        self.what = what
        var primitive: dnnl_primitive_t? = nil
        try OneDNNStatus.check(dnnl_primitive_create(&primitive, pd), "dnnl_primitive_create(\(what))")
        guard let primitive else { throw TensorError.backendFailure("dnnl_primitive_create(\(what)) returned no primitive") }
        handle = primitive
    }

    deinit { dnnl_primitive_destroy(handle) }

    /// Creates the primitive for an operation descriptor (`dnnl_*_desc_t`). `configure` may
    /// add attributes (output scales, post-ops). Throws `.unsupported` when oneDNN has no
    /// implementation for it here.
    static func create(engine: dnnl_engine_t, owner: OneDNNEngine?, what: String, operation: UnsafeRawPointer,
                       configure: (dnnl_primitive_attr_t) throws -> Void = { _ in }) throws -> OneDNNPrimitive {
        // Implementations size their thread partitioning when the descriptor is created, so
        // creation runs under the same OpenMP thread count as execution.
        try OneDNNEngine.withThreads {
            let attr = try makeAttributes(what)
            defer { dnnl_primitive_attr_destroy(attr) }
            try configure(attr)
            var pd: dnnl_primitive_desc_t? = nil
            try OneDNNStatus.check(dnnl_primitive_desc_create(&pd, operation, attr, engine, nil),
                                   "dnnl_primitive_desc_create(\(what))")
            guard let pd else { throw TensorError.backendFailure("dnnl_primitive_desc_create(\(what)) returned nothing") }
            defer { dnnl_primitive_desc_destroy(pd) }
            return try OneDNNPrimitive(descriptor: pd, what: what, owner: owner)
        }
    }

    /// A matmul `destination = source · weights (+ bias)`; a zero bias descriptor means none.
    static func matmul(engine: dnnl_engine_t, owner: OneDNNEngine?, what: String, source: OneDNNMemoryDescriptor,
                       weights: OneDNNMemoryDescriptor, bias: OneDNNMemoryDescriptor?,
                       destination: OneDNNMemoryDescriptor,
                       configure: (dnnl_primitive_attr_t) throws -> Void = { _ in }) throws -> OneDNNPrimitive {
        var desc = dnnl_matmul_desc_t()
        var s = source.raw, w = weights.raw, d = destination.raw
        var b = bias?.raw ?? dnnl_memory_desc_t() // all zero: no bias term
        try OneDNNStatus.check(dnnl_matmul_desc_init(&desc, &s, &w, &b, &d), "dnnl_matmul_desc_init(\(what))")
        return try withUnsafePointer(to: &desc) { p in
            try create(engine: engine, owner: owner, what: what, operation: UnsafeRawPointer(p), configure: configure)
        }
    }

    /// A forward-inference 2-D convolution. Descriptors are in oneDNN's logical order
    /// (N, C, H, W and O, I, KH, KW); `paddingLeft` is (top, left), `paddingRight` (bottom, right).
    static func convolution(engine: dnnl_engine_t, owner: OneDNNEngine?, what: String, algorithm: dnnl_alg_kind_t,
                            source: OneDNNMemoryDescriptor, weights: OneDNNMemoryDescriptor,
                            bias: OneDNNMemoryDescriptor?, destination: OneDNNMemoryDescriptor,
                            strides: [Int], paddingLeft: [Int], paddingRight: [Int],
                            configure: (dnnl_primitive_attr_t) throws -> Void = { _ in }) throws -> OneDNNPrimitive {
        var desc = dnnl_convolution_desc_t()
        var s = source.raw, w = weights.raw, d = destination.raw
        var b = bias?.raw ?? dnnl_memory_desc_t()
        let st = strides.map(Int64.init), pl = paddingLeft.map(Int64.init), pr = paddingRight.map(Int64.init)
        try OneDNNStatus.check(
            dnnl_convolution_forward_desc_init(&desc, dnnl_forward_inference, algorithm, &s, &w, &b, &d, st, pl, pr),
            "dnnl_convolution_forward_desc_init(\(what))")
        return try withUnsafePointer(to: &desc) { p in
            try create(engine: engine, owner: owner, what: what, operation: UnsafeRawPointer(p), configure: configure)
        }
    }

    /// A reorder (layout and/or data type conversion) from one descriptor to another; with
    /// `accumulate` it adds into the destination (`to += reorder(from)`).
    static func reorder(engine: dnnl_engine_t, owner: OneDNNEngine?, what: String, from: OneDNNMemoryDescriptor,
                        to: OneDNNMemoryDescriptor, accumulate: Bool = false) throws -> OneDNNPrimitive {
        try OneDNNEngine.withThreads {
            let attr = try makeAttributes(what)
            defer { dnnl_primitive_attr_destroy(attr) }
            if accumulate { try addingToDestination(attr, what) }
            var s = from.raw, d = to.raw
            var pd: dnnl_primitive_desc_t? = nil
            try OneDNNStatus.check(dnnl_reorder_primitive_desc_create(&pd, &s, engine, &d, engine, attr),
                                   "dnnl_reorder_primitive_desc_create(\(what))")
            guard let pd else { throw TensorError.backendFailure("dnnl_reorder_primitive_desc_create(\(what)) returned nothing") }
            defer { dnnl_primitive_desc_destroy(pd) }
            return try OneDNNPrimitive(descriptor: pd, what: what, owner: owner)
        }
    }

    /// Makes the primitive add its result to what the destination holds (a `sum` post-op with
    /// scale 1: `dst = result + dst`, after the bias): the residual connections' `h + f(h)`
    /// without a second pass over memory. Float addition commutes, so the values are those of
    /// a separate add.
    static func addingToDestination(_ attr: dnnl_primitive_attr_t, _ what: String) throws {
        var postOps: dnnl_post_ops_t? = nil
        try OneDNNStatus.check(dnnl_post_ops_create(&postOps), "dnnl_post_ops_create(\(what))")
        guard let postOps else { throw TensorError.backendFailure("dnnl_post_ops_create(\(what)) returned nothing") }
        defer { dnnl_post_ops_destroy(postOps) }
        try OneDNNStatus.check(dnnl_post_ops_append_sum(postOps, 1), "dnnl_post_ops_append_sum(\(what))")
        try OneDNNStatus.check(dnnl_primitive_attr_set_post_ops(attr, postOps), "dnnl_primitive_attr_set_post_ops(\(what))")
    }

    private static func makeAttributes(_ what: String) throws -> dnnl_primitive_attr_t {
        var attr: dnnl_primitive_attr_t? = nil
        try OneDNNStatus.check(dnnl_primitive_attr_create(&attr), "dnnl_primitive_attr_create(\(what))")
        guard let attr else { throw TensorError.backendFailure("dnnl_primitive_attr_create(\(what)) returned nothing") }
        let status = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user)
        if status != dnnl_success {
            dnnl_primitive_attr_destroy(attr)
            try OneDNNStatus.check(status, "dnnl_primitive_attr_set_scratchpad_mode(\(what))")
        }
        return attr
    }

    /// Runs the primitive on borrowed buffers and waits for it. The scratchpad is this call's
    /// alone (borrowed from the engine's workspace pool; see the type's comment).
    func execute(_ arguments: [OneDNNArgument], on engine: OneDNNEngine) throws {
        let scratch = scratchpadBytes > 0 ? engine.workspace.borrow(scratchpadBytes) : nil
        defer { if let scratch { engine.workspace.giveBack(scratch) } }
        var all = arguments
        if let scratch { all.append(OneDNNArgument(DNNL_ARG_SCRATCHPAD, scratchpad, scratch.pointer)) }
        var memories: [dnnl_memory_t] = []
        defer { for m in memories { dnnl_memory_destroy(m) } }
        var args: [dnnl_exec_arg_t] = []
        for a in all {
            var memory: dnnl_memory_t? = nil
            var md = a.descriptor.raw
            try OneDNNStatus.check(dnnl_memory_create(&memory, &md, engine.handle, a.pointer),
                                   "dnnl_memory_create(\(what), argument \(a.slot))")
            guard let memory else { throw TensorError.backendFailure("dnnl_memory_create(\(what)) returned nothing") }
            memories.append(memory)
            args.append(dnnl_exec_arg_t(arg: a.slot, memory: memory))
        }
        try engine.execute(handle, args, what: what)
    }
}
