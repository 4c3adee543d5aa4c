import CDNNL

/// How a requested `Precision` is computed on this machine.
enum OneDNNComputeMode: Sendable, Equatable {
    /// fp32 operands, fp32 accumulation.
    case f32
    /// bf16 operands handed to oneDNN as bf16 (its bf16 dot-product kernels), fp32 output.
    case nativeBF16
    /// Operands rounded to bfloat16 values in Swift, then the fp32 primitives. Products of two
    /// bf16 values are exact in fp32, so this gives the numbers of native bf16 with fp32
    /// accumulation (up to summation order) without the speed.
    case emulatedBF16

    init(_ precision: Precision, nativeBF16: Bool) {
        switch precision {
        case .f32: self = .f32
        case .bf16: self = nativeBF16 ? .nativeBF16 : .emulatedBF16
        }
    }

    /// Data type of the operands the primitive reads.
    var operandType: dnnl_data_type_t { self == .nativeBF16 ? dnnl_bf16 : dnnl_f32 }

    /// Whether operands are rounded to bf16 values before an fp32 primitive sees them.
    var roundsOperands: Bool { self == .emulatedBF16 }
}
