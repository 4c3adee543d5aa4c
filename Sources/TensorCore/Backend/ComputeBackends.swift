import TensorStorage

/// Chooses a compute backend.
public enum ComputeBackends {
    /// Creates the named backend.
    public static func make(_ kind: BackendKind) throws -> any ComputeBackend {
        switch kind {
        case .onednn: try OneDNNBackend()
        case .openblas: OpenBLASBackend()
        case .reference: ReferenceBackend()
        }
    }

    /// The fastest exact backend available here: oneDNN when its CPU engine comes up,
    /// OpenBLAS otherwise.
    public static func makeDefault() -> any ComputeBackend {
        (try? OneDNNBackend()) ?? OpenBLASBackend()
    }

    /// `name` if given (`onednn`, `openblas`, `reference`), else the default.
    public static func make(named name: String?) throws -> any ComputeBackend {
        guard let name, !name.isEmpty else { return makeDefault() }
        guard let kind = BackendKind(rawValue: name.lowercased()) else {
            let known = BackendKind.allCases.map(\.rawValue).joined(separator: ", ")
            throw TensorError.invalidArgument("unknown backend '\(name)' (known: \(known))")
        }
        return try make(kind)
    }
}
