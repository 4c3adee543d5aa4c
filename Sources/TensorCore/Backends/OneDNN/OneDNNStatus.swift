import CDNNL
import TensorStorage

/// Turns oneDNN status codes into `TensorError`s that name the call that failed, so that every
/// failure reaching the caller says which library call refused and why.
enum OneDNNStatus {
    /// Throws unless `status` is `dnnl_success`. `dnnl_unimplemented` (no implementation for
    /// this shape, data type or CPU) becomes `.unsupported`, which callers catch to fall back;
    /// everything else is a `.backendFailure`.
    static func check(_ status: dnnl_status_t, _ call: @autoclosure () -> String) throws {
        guard status != dnnl_success else { return }
        let message = "\(call()) returned \(name(status))"
        if status == dnnl_unimplemented { throw TensorError.unsupported(message) }
        throw TensorError.backendFailure(message)
    }

    static func name(_ status: dnnl_status_t) -> String {
        switch status {
        case dnnl_success: "dnnl_success"
        case dnnl_out_of_memory: "dnnl_out_of_memory"
        case dnnl_invalid_arguments: "dnnl_invalid_arguments"
        case dnnl_unimplemented: "dnnl_unimplemented"
        case dnnl_iterator_ends: "dnnl_iterator_ends"
        case dnnl_runtime_error: "dnnl_runtime_error"
        case dnnl_not_required: "dnnl_not_required"
        default: "dnnl status \(status.rawValue)"
        }
    }

    /// Whether an error thrown by `check` means "no implementation" (the cue to fall back).
    static func isUnimplemented(_ error: any Error) -> Bool {
        if case TensorError.unsupported = error { return true }
        return false
    }
}
