import TensorStorage

/// Opens weight files of either format.
///
/// ```swift
/// let weights = try WeightFile.open("model.ckpt")
/// for name in weights.names { print(name, weights.info(named: name)!) }
/// let w = try weights.tensor(named: "model.diffusion_model.out.2.weight").toTensor()
/// ```
public enum WeightFile {
    /// Opens `path`, choosing the reader from the file's first bytes (not its extension).
    public static func open(_ path: String) throws -> any WeightArchive {
        try open(storage: MappedFile.map(path), path: path)
    }

    /// Parses weights already in memory; `path` names them in errors.
    public static func open(storage: ByteStorage, path: String) throws -> any WeightArchive {
        switch try detectFormat(storage.bytes, path: path) {
        case .pytorchZip: try TorchCheckpoint(storage: storage, path: path)
        case .safetensors: try SafetensorsFile(storage: storage, path: path)
        }
    }

    /// The format of the file at `path`, from its first bytes.
    public static func format(of path: String) throws -> WeightFileFormat {
        let mapping = try MappedFile.map(path)
        // The mapping must outlive the read of its bytes.
        return try withExtendedLifetime(mapping) { try detectFormat(mapping.bytes, path: path) }
    }

    static func detectFormat(_ bytes: UnsafeRawBufferPointer, path: String) throws -> WeightFileFormat {
        let view = ByteView(bytes)
        if view.u32(at: 0) == ZipDirectory.localHeaderSignature {
            return .pytorchZip
        }
        // A safetensors file starts with its header length and then '{'. A plausible length
        // alone is enough, so that a damaged header gets the safetensors reader's explanation.
        if let length = view.u64(at: 0),
           view.u8(at: 8) == UInt8(ascii: "{") || length <= UInt64(SafetensorsHeader.maxHeaderLength) {
            return .safetensors
        }
        if bytes.count < 8 {
            throw WeightsError(.truncated, path: path, "file is only \(bytes.count) bytes: too short to be a weight file")
        }
        if view.u8(at: 0) == 0x80, let proto = view.u8(at: 1), proto <= 5 {
            throw WeightsError(.unknownFormat, path: path,
                               "looks like a legacy (pre-1.6, non-zip) torch.save file, which is not supported; re-save it with a current PyTorch")
        }
        throw WeightsError(.unknownFormat, path: path, "not a safetensors file or a PyTorch zip checkpoint")
    }
}
