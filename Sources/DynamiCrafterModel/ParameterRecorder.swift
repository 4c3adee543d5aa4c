import Synchronization
import TensorCore
import TensorStorage
import Weights
#if canImport(Glibc)
import Glibc
#endif

/// Writes down every tensor blocks ask for while they are built, in the order they ask, and
/// answers with placeholders: this is how `ParameterManifest` learns the checkpoint a
/// configuration implies from the blocks themselves, so the architecture (channel widths, skip
/// connections, which layers exist) is written once, in the blocks.
///
/// Build blocks with `source` and `context`. Nothing is read and no weight memory is taken:
/// - a weight (`ParameterSource.tensor`) is a read-only anonymous mapping of its size, whose
///   untouched pages cost no memory, and the placeholder backend (`PlaceholderBackend`) packs
///   nothing, so the mapping goes away with the call;
/// - a small parameter (`ParameterSource.floats`: norms, embeddings, gates) is a float32 tensor
///   of zeros, because blocks keep those as `Tensor` (a few MiB for the largest model).
/// Blocks built this way hold placeholders: running them throws.
public final class ParameterRecorder: Sendable {
    private struct State {
        var entries: [ParameterManifest.Entry] = []
        var index: [String: Int] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    /// A source at the checkpoint's root that records into this recorder.
    public var source: ParameterSource { ParameterSource(recorder: self) }

    /// A context whose backend packs nothing (see `PlaceholderBackend`).
    public var context: ComputeContext { ComputeContext(backend: PlaceholderBackend()) }

    /// Every tensor asked for so far, once each, in the order first asked.
    public var entries: [ParameterManifest.Entry] { state.withLock { $0.entries } }

    /// Records `key` with `shape`. Asking again with the same shape is harmless (a block that
    /// checks before it loads); another shape means two blocks disagree about one tensor.
    public func record(key: String, shape: [Int]) throws {
        try state.withLock { s in
            if let i = s.index[key] {
                let first = s.entries[i].shape
                guard first == shape else {
                    throw ParameterRecordingError.conflictingShapes(key: key, first: first, second: shape)
                }
                return
            }
            s.index[key] = s.entries.count
            s.entries.append(ParameterManifest.Entry(key: key, shape: shape))
        }
    }

    /// Records `key` and returns float32 data of `shape` backed by untouched zero pages.
    func placeholder(key: String, shape: [Int]) throws -> TensorData {
        try record(key: key, shape: shape)
        guard let count = Shape.elementCount(shape), case let (size, false) = count.multipliedReportingOverflow(by: 4) else {
            throw ParameterRecordingError.invalidShape(key: key, shape: shape)
        }
        let bytes = max(size, 1)
        // MAP_NORESERVE: the pages are never written, so they need no swap or commit either.
        guard let base = mmap(nil, bytes, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0),
              base != MAP_FAILED else {
            throw ParameterRecordingError.noAddressSpace(key: key, bytes: bytes)
        }
        let storage = ByteStorage(bytes: UnsafeRawBufferPointer(start: base, count: bytes)) { mapped in
            if let p = mapped.baseAddress { munmap(UnsafeMutableRawPointer(mutating: p), mapped.count) }
        }
        return try TensorData(dtype: .f32, shape: shape, storage: storage)
    }

    /// Records `key` and returns zeros of `shape`.
    func placeholderFloats(key: String, shape: [Int]) throws -> Tensor {
        try record(key: key, shape: shape)
        guard Shape.elementCount(shape) != nil else {
            throw ParameterRecordingError.invalidShape(key: key, shape: shape)
        }
        return Tensor(zeros: shape)
    }
}
