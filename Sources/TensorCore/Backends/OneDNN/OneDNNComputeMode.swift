import CDNNL

/// How a requested `Precision` is computed on this machine.
enum OneDNNComputeMode: Sendable, Equatable {
    /// fp32 operands, fp32 accumulation.
    case f32
    /// bf16 operands handed to oneDNN as bf16 (its bf16 dot-product kernels), fp32 output;
    /// weights resident as packed bf16.
    case nativeBF16
    /// Weights resident as bf16 (half the memory), widened layer by layer into a scratch block
    /// for oneDNN's fp32 kernels; activations stay fp32. Where bf16 dot products are slow or
    /// absent this is the faster way to run a bf16 model, and it is more accurate than
    /// rounding both operands (only the weights carry bf16's rounding).
    case widenedBF16

    init(_ precision: Precision, native: Bool) {
        switch precision {
        case .f32: self = .f32
        case .bf16: self = native ? .nativeBF16 : .widenedBF16
        }
    }

    /// Data type of the operands the primitive reads.
    var operandType: dnnl_data_type_t { self == .nativeBF16 ? dnnl_bf16 : dnnl_f32 }

    /// How the packed weights are held.
    var residency: OneDNNWeightPacks.Residency { self == .widenedBF16 ? .narrowed : .operandType }
}
