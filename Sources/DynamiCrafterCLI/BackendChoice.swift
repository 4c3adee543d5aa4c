import TensorCore

/// Builds a backend by name for the command-line tools.
enum BackendChoice {
    static func make(_ kind: BackendKind) throws -> any ComputeBackend {
        switch kind {
        case .openblas: OpenBLASBackend()
        case .reference: ReferenceBackend()
        case .onednn: throw TensorError.unsupported("oneDNN backend not wired yet")
        }
    }
}
