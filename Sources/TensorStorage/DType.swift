/// Element types a stored tensor can have. Raw values are the safetensors spellings.
public enum DType: String, Sendable, CaseIterable, Codable {
    case f64 = "F64"
    case f32 = "F32"
    case f16 = "F16"
    case bf16 = "BF16"
    case i64 = "I64"
    case i32 = "I32"
    case i16 = "I16"
    case i8 = "I8"
    case u8 = "U8"
    case bool = "BOOL"

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .f64, .i64: 8
        case .f32, .i32: 4
        case .f16, .bf16, .i16: 2
        case .i8, .u8, .bool: 1
        }
    }

    /// Whether the type holds floating-point values that can feed the compute kernels.
    public var isFloatingPoint: Bool {
        switch self {
        case .f64, .f32, .f16, .bf16: true
        default: false
        }
    }
}
