import TensorStorage

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
        pointer = ActivationMemory.allocate(byteCount: max(byteCount, 1))
    }

    /// Float32 copy of floating-point data (a bias).
    convenience init(floatsOf data: TensorData) {
        let n = data.elementCount
        self.init(byteCount: n * 4)
        data.widen(into: pointer.bindMemory(to: Float.self, capacity: max(n, 1)))
    }

    deinit { ActivationMemory.deallocate(pointer, byteCount: max(byteCount, 1)) }
}
