/// A 64-byte aligned heap block handed to oneDNN as memory: packed weights, biases and the
/// per-call temporaries (scratchpads, bf16 copies, blocked Winograd activations).
///
/// `@unchecked Sendable`: the bytes are written only while the buffer is being filled (by its
/// initialiser, or by a reorder into a buffer nobody else has seen yet) and are read-only once
/// the buffer is stored where other threads can reach it (an operator's `let`s or a
/// `Mutex`-protected cache). oneDNN only reads weights and biases during execution.
final class OneDNNAlignedBuffer: @unchecked Sendable {
    let pointer: UnsafeMutableRawPointer
    let byteCount: Int

    /// An uninitialised block of at least one byte.
    init(byteCount: Int) {
        self.byteCount = byteCount
        pointer = UnsafeMutableRawPointer.allocate(byteCount: max(byteCount, 1), alignment: 64)
    }

    /// Float32 copy of floating-point data (a bias), optionally rounded to bfloat16 values.
    convenience init(floatsOf data: TensorData, roundedToBF16: Bool = false) {
        let n = data.elementCount
        self.init(byteCount: n * 4)
        let dst = pointer.bindMemory(to: Float.self, capacity: max(n, 1))
        data.toTensor().withUnsafeBufferPointer { src in
            for i in 0..<n { dst[i] = roundedToBF16 ? HalfConversion.roundToBF16(src[i]) : src[i] }
        }
    }

    /// bfloat16 copy of floating-point data (round to nearest even; bf16 input is copied as is).
    convenience init(bf16Of data: TensorData) {
        let n = data.elementCount
        self.init(byteCount: n * 2)
        if data.dtype == .bf16 {
            if n > 0 { pointer.copyMemory(from: data.bytes.baseAddress!, byteCount: n * 2) }
            return
        }
        let dst = pointer.bindMemory(to: UInt16.self, capacity: max(n, 1))
        data.toTensor().withUnsafeBufferPointer { src in
            for i in 0..<n { dst[i] = HalfConversion.bf16(from: src[i]) }
        }
    }

    deinit { pointer.deallocate() }
}
