import CDNNL
import Synchronization
import TensorStorage

/// oneDNN's CPU engine, a pool of streams, and what this CPU can run (probed once).
///
/// `@unchecked Sendable`: after `init` the engine handle and the probe results are only read;
/// oneDNN lets several threads create primitives and memory objects on one engine. Streams are
/// the one piece of per-execution state: oneDNN's documentation does not promise that a
/// stream may be used from two threads at once, so each execution borrows a stream from the
/// `Mutex`-protected pool (creating one when all are busy) and returns it afterwards; a stream
/// is never used by two threads at the same time. A CPU stream is in-order and synchronous
/// (OpenMP runtime), so a stream left in the pool holds no pending work.
final class OneDNNEngine: @unchecked Sendable {
    let handle: dnnl_engine_t
    /// Idle streams, as pointer bit patterns (plain integers keep the pool trivially Sendable).
    private let idleStreams = Mutex<[Int]>([])
    /// Per-call temporaries (scratchpads, staging copies), reused across calls.
    let workspace = OneDNNWorkspacePool()

    /// "2.6.3", plus the git hash when the build recorded one.
    let version: String
    /// The instruction set oneDNN's kernels use here (`dnnl_get_effective_cpu_isa`).
    let isa: String
    /// Implementation of a probe fp32 Winograd convolution, nil when oneDNN has none here.
    let winogradImplementation: String?
    /// Implementation of a probe bf16 matmul, nil when oneDNN has no optimised one here.
    let bf16Implementation: String?

    /// Whether direct convolutions should let oneDNN choose the activation layout (and pay two
    /// reorders) rather than run on NHWC as is. oneDNN 2.6's AVX2 kernels are written for
    /// blocked channels (nChw8c): on the 2-core AVX2 test machine a 3×3 320→320 convolution on
    /// [32, 32, 32, 320] took 680–700 ms of CPU blocked versus 980–1,200 ms on NHWC. With
    /// AVX-512 its NHWC kernels are the fast ones (PERF.md: 457–531 GFLOP/s, no conversions).
    let prefersBlockedActivations: Bool

    var winogradAvailable: Bool { winogradImplementation != nil }
    var nativeBF16: Bool { bf16Implementation != nil }

    init() throws {
        guard dnnl_engine_get_count(dnnl_cpu) > 0 else {
            throw TensorError.unsupported("oneDNN reports no CPU engine (dnnl_engine_get_count(cpu) = 0)")
        }
        var engine: dnnl_engine_t? = nil
        try OneDNNStatus.check(dnnl_engine_create(&engine, dnnl_cpu, 0), "dnnl_engine_create(cpu, 0)")
        guard let engine else { throw TensorError.backendFailure("dnnl_engine_create(cpu, 0) returned no engine") }
        handle = engine
        version = Self.versionString()
        let effectiveISA = dnnl_get_effective_cpu_isa()
        isa = Self.isaName(effectiveISA)
        let avx512 = dnnl_cpu_isa_avx512_core.rawValue
        prefersBlockedActivations = effectiveISA.rawValue & avx512 != avx512
        winogradImplementation = Self.probeWinograd(engine)
        bf16Implementation = Self.probeBF16(engine)
    }

    deinit {
        let streams = idleStreams.withLock { pool in
            let all = pool
            pool.removeAll()
            return all
        }
        for bits in streams { dnnl_stream_destroy(OpaquePointer(bitPattern: bits)) }
        dnnl_engine_destroy(handle)
    }

    /// Executes a primitive on a borrowed stream and waits for it to finish.
    func execute(_ primitive: dnnl_primitive_t, _ args: [dnnl_exec_arg_t], what: String) throws {
        let stream = try borrowStream()
        defer { idleStreams.withLock { $0.append(Int(bitPattern: stream)) } }
        try Self.withThreads {
            try OneDNNStatus.check(dnnl_primitive_execute(primitive, stream, Int32(args.count), args),
                                   "dnnl_primitive_execute(\(what))")
            try OneDNNStatus.check(dnnl_stream_wait(stream), "dnnl_stream_wait(\(what))")
        }
    }

    private func borrowStream() throws -> dnnl_stream_t {
        if let bits = idleStreams.withLock({ $0.popLast() }), let stream = OpaquePointer(bitPattern: bits) {
            return stream
        }
        var stream: dnnl_stream_t? = nil
        try OneDNNStatus.check(dnnl_stream_create(&stream, handle, dnnl_stream_default_flags.rawValue),
                               "dnnl_stream_create")
        guard let stream else { throw TensorError.backendFailure("dnnl_stream_create returned no stream") }
        return stream
    }

    /// Runs `body` with the calling thread's OpenMP team size set to `Threading.threadCount`,
    /// then restores it. OpenMP's thread count is a per-thread setting, so a call from a thread
    /// that never configured it (a Swift concurrency worker, say) would otherwise use every
    /// CPU; restoring keeps the caller's own setting (a `Parallel` worker's 1) intact.
    static func withThreads<R>(_ body: () throws -> R) rethrows -> R {
        let wanted = Threading.threadCount
        let saved = OneDNNOpenMPControl.maxThreads()
        if saved == wanted { return try body() }
        OneDNNOpenMPControl.setNumThreads(wanted)
        defer { OneDNNOpenMPControl.setNumThreads(saved) }
        return try body()
    }

    // MARK: - What this machine runs

    private static func versionString() -> String {
        guard let v = dnnl_version()?.pointee else { return "unknown version" }
        var s = "\(v.major).\(v.minor).\(v.patch)"
        if let hash = v.hash.map({ String(cString: $0) }), !hash.isEmpty, hash != "N/A" { s += " (\(hash))" }
        return s
    }

    static func isaName(_ isa: dnnl_cpu_isa_t) -> String {
        switch isa {
        case dnnl_cpu_isa_sse41: "sse41"
        case dnnl_cpu_isa_avx: "avx"
        case dnnl_cpu_isa_avx2: "avx2"
        case dnnl_cpu_isa_avx2_vnni: "avx2_vnni"
        case dnnl_cpu_isa_avx512_mic: "avx512_mic"
        case dnnl_cpu_isa_avx512_mic_4ops: "avx512_mic_4ops"
        case dnnl_cpu_isa_avx512_core: "avx512_core"
        case dnnl_cpu_isa_avx512_core_vnni: "avx512_core_vnni"
        case dnnl_cpu_isa_avx512_core_bf16: "avx512_core_bf16"
        case dnnl_cpu_isa_avx512_core_amx: "avx512_core_amx"
        case dnnl_cpu_isa_all: "all"
        default: "isa 0x\(String(isa.rawValue, radix: 16))"
        }
    }

    /// Tries a 64→64 3×3 fp32 Winograd convolution descriptor (oneDNN 2.x has Winograd only
    /// for AVX-512; `dnnl_unimplemented` elsewhere).
    private static func probeWinograd(_ engine: dnnl_engine_t) -> String? {
        do {
            let act = [1, 64, 16, 16]
            let src = try OneDNNMemoryDescriptor(dims: act, dataType: dnnl_f32, tag: dnnl_format_tag_any)
            let wei = try OneDNNMemoryDescriptor(dims: [64, 64, 3, 3], dataType: dnnl_f32, tag: dnnl_format_tag_any)
            let bias = try OneDNNMemoryDescriptor(dims: [64], dataType: dnnl_f32, tag: dnnl_a)
            let p = try OneDNNPrimitive.convolution(
                engine: engine, owner: nil, what: "Winograd probe", algorithm: dnnl_convolution_winograd,
                source: src, weights: wei, bias: bias, destination: src,
                strides: [1, 1], paddingLeft: [1, 1], paddingRight: [1, 1])
            return p.implementation
        } catch {
            return nil
        }
    }

    /// Tries a bf16 × bf16 → f32 matmul. A reference-loop implementation ("ref:…") does not
    /// count: rounding operands and running the fp32 kernels gives the same numbers faster.
    private static func probeBF16(_ engine: dnnl_engine_t) -> String? {
        do {
            let src = try OneDNNMemoryDescriptor(dims: [32, 64], dataType: dnnl_bf16, tag: dnnl_ab)
            let wei = try OneDNNMemoryDescriptor(dims: [64, 64], dataType: dnnl_bf16, tag: dnnl_format_tag_any)
            let dst = try OneDNNMemoryDescriptor(dims: [32, 64], dataType: dnnl_f32, tag: dnnl_ab)
            let p = try OneDNNPrimitive.matmul(engine: engine, owner: nil, what: "bf16 probe", source: src, weights: wei,
                                               bias: nil, destination: dst)
            return p.implementation.hasPrefix("ref") ? nil : p.implementation
        } catch {
            return nil
        }
    }
}
