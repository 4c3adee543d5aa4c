import TensorCore
import TensorStorage

/// Where the sampler's Gaussian noise comes from: the initial latent x_T and the fresh ε of every
/// DDIM step (one draw of the latent's full shape per step, as the reference's
/// `torch.randn(x.shape)`).
///
/// Production uses `TorchRandom` (PyTorch's CPU stream for a seed); parity tests replay the
/// noise a reference run exported.
public protocol NoiseSource {
    /// Fills `buffer` with standard normal samples forming one tensor of `shape`
    /// (`buffer.count` is the product of `shape`).
    mutating func fillStandardNormal(_ buffer: UnsafeMutableBufferPointer<Float>, shape: [Int]) throws
}

extension NoiseSource {
    /// A new tensor of standard normal samples (`torch.randn(shape)`).
    public mutating func standardNormal(shape: [Int]) throws -> Tensor {
        var tensor = Tensor(zeros: shape)
        try fillStandardNormal(&tensor)
        return tensor
    }

    /// Overwrites `tensor` with standard normal samples (one draw of its shape), in place.
    public mutating func fillStandardNormal(_ tensor: inout Tensor) throws {
        let shape = tensor.shape
        try tensor.withUnsafeMutableBufferPointer { try fillStandardNormal($0, shape: shape) }
    }
}
