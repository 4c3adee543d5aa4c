/// The on-disk formats the readers understand.
public enum WeightFileFormat: String, Sendable, Equatable, CaseIterable, CustomStringConvertible {
    /// Hugging Face safetensors: 8-byte header length, JSON header, raw data.
    case safetensors
    /// `torch.save` zip archive (`.ckpt`, `.pt`, `.pth`): a pickle plus raw storages.
    case pytorchZip

    public var description: String {
        switch self {
        case .safetensors: "safetensors"
        case .pytorchZip: "PyTorch zip checkpoint"
        }
    }
}
