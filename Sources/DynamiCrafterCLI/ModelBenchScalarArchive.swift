import Weights

/// Shows every 0-dim tensor of another archive as shape `[1]`.
///
/// Why: the real checkpoints (and `ParameterManifest`) store the image cross-attention gates
/// `attn2.alpha` as 0-dim scalars, while `CrossAttention` (like the golden fixtures) asks for
/// shape `[1]`. Same single value either way; this lets the benchmark build the model from the
/// manifest until the block accepts both.
struct ModelBenchScalarArchive: WeightArchive {
    let base: any WeightArchive

    var path: String { base.path }
    var format: WeightFileFormat { base.format }
    var names: [String] { base.names }
    var metadata: [String: String] { base.metadata }
    var fileSize: Int { base.fileSize }

    func info(named name: String) -> TensorInfo? {
        guard let info = base.info(named: name) else { return nil }
        return info.shape.isEmpty ? TensorInfo(dtype: info.dtype, shape: [1]) : info
    }

    func tensor(named name: String) throws -> TensorData {
        let t = try base.tensor(named: name)
        return t.shape.isEmpty ? try t.reshaped([1]) : t
    }
}
