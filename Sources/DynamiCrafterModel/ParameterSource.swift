import TensorCore
import TensorStorage
import Weights

/// Where a block takes its weights from: a weight archive seen under a key prefix, with every
/// tensor's shape checked against what the block expects before anything is computed.
///
/// Blocks ask for their tensors by the checkpoint's own names (`scoped("attn1").tensor("to_q.weight", …)`),
/// so a block's code reads like the reference module it ports.
///
/// A source can also be a `ParameterRecorder`: then every request is written down (key and
/// shape) and answered with a placeholder, so building the blocks lists the checkpoint they
/// expect (`ParameterManifest`) without reading or allocating any weights.
public struct ParameterSource: Sendable {
    enum Backing: Sendable {
        case archive(any WeightArchive)
        case recorder(ParameterRecorder)
    }

    let backing: Backing
    public let prefix: String

    public init(archive: any WeightArchive, prefix: String = "") {
        backing = .archive(archive)
        self.prefix = prefix
    }

    /// A source that records what is asked of it (see `ParameterRecorder`).
    public init(recorder: ParameterRecorder, prefix: String = "") {
        backing = .recorder(recorder)
        self.prefix = prefix
    }

    private init(backing: Backing, prefix: String) {
        self.backing = backing
        self.prefix = prefix
    }

    /// The same archive under `prefix + name + "."`.
    public func scoped(_ name: String) -> ParameterSource {
        ParameterSource(backing: backing, prefix: prefix + name + ".")
    }

    /// The full key of a tensor of this scope.
    public func key(_ name: String) -> String { prefix + name }

    /// Whether this scope holds `name`. A recorder holds nothing, so blocks that choose between
    /// namings by what the file has record the canonical one.
    public func contains(_ name: String) -> Bool {
        switch backing {
        case .archive(let archive): archive.contains(key(name))
        case .recorder: false
        }
    }

    /// The shape `name` has in the file, if it is there (nil from a recorder).
    public func storedShape(_ name: String) -> [Int]? {
        guard case .archive(let archive) = backing else { return nil }
        return archive.info(named: key(name))?.shape
    }

    /// The tensor `name`, which must be a float tensor of exactly `shape`.
    public func tensor(_ name: String, shape: [Int]) throws -> TensorData {
        let k = key(name)
        let archive: any WeightArchive
        switch backing {
        case .archive(let a): archive = a
        case .recorder(let recorder): return try recorder.placeholder(key: k, shape: shape)
        }
        guard let info = archive.info(named: k) else {
            throw ModelLoadError.missing(key: k, expected: shape, file: archive.path)
        }
        guard info.shape == shape else {
            throw ModelLoadError.shapeMismatch(key: k, expected: shape, found: info.shape, file: archive.path)
        }
        guard info.dtype.isFloatingPoint else {
            throw ModelLoadError.wrongDType(key: k, found: info.dtype, file: archive.path)
        }
        return try archive.tensor(named: k)
    }

    /// The tensor `name` as float32 (for small parameters: norms, biases, embeddings).
    public func floats(_ name: String, shape: [Int]) throws -> Tensor {
        switch backing {
        case .archive: try tensor(name, shape: shape).toTensor()
        case .recorder(let recorder): try recorder.placeholderFloats(key: key(name), shape: shape)
        }
    }

    /// A tensor the checkpoint holds that no block reads (OpenCLIP's unused heads, the
    /// schedule buffers): listed by a recorder, ignored when loading.
    public func declare(_ name: String, shape: [Int]) throws {
        if case .recorder(let recorder) = backing { try recorder.record(key: key(name), shape: shape) }
    }
}

/// A checkpoint that does not fit the model. Loading reports every problem at once where it
/// can (see `ModelLoadReport`); a single block reports the first it meets.
public enum ModelLoadError: Error, Sendable, Equatable, CustomStringConvertible {
    case missing(key: String, expected: [Int], file: String)
    case shapeMismatch(key: String, expected: [Int], found: [Int], file: String)
    case wrongDType(key: String, found: DType, file: String)

    public var description: String {
        switch self {
        case .missing(let k, let e, let f): "\(f): missing tensor \(k) (expected shape \(Shape.describe(e)))"
        case .shapeMismatch(let k, let e, let s, let f): "\(f): tensor \(k) has shape \(Shape.describe(s)), expected \(Shape.describe(e))"
        case .wrongDType(let k, let d, let f): "\(f): tensor \(k) is \(d.rawValue), expected a floating-point tensor"
        }
    }
}

/// How a model runs: which backend does the dense work, at which precision, and where the
/// layers' weights stay while loaded.
public struct ComputeContext: Sendable {
    public let backend: any ComputeBackend
    /// Precision of the weights (and of the weight × activation products where the backend
    /// runs bf16 natively).
    public let precision: Precision
    /// Where Linear layers keep their weights: packed (default) or streamed from the mapped file.
    public let residency: WeightResidency

    public init(backend: any ComputeBackend, precision: Precision = .f32, residency: WeightResidency = .packed) {
        self.backend = backend
        self.precision = precision
        self.residency = residency
    }

    /// The same context with another weight residency.
    public func with(residency: WeightResidency) -> ComputeContext {
        ComputeContext(backend: backend, precision: precision, residency: residency)
    }

    /// Precision of activation × activation products (attention). bf16 precision is about the
    /// weights' memory; rounding activations too only pays where bf16 dot products are faster
    /// than fp32 (and is otherwise slower and less accurate), so it follows the backend.
    public var attentionPrecision: Precision {
        precision == .bf16 && backend.runsBF16Natively ? .bf16 : .f32
    }
}
