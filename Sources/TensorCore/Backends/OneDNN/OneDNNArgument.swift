import CDNNL

/// One execution argument: which slot (`DNNL_ARG_*`), the layout, and the bytes. The pointer
/// is only borrowed for the duration of one `OneDNNPrimitive.execute` call.
struct OneDNNArgument {
    let slot: Int32
    let descriptor: OneDNNMemoryDescriptor
    let pointer: UnsafeMutableRawPointer

    init(_ slot: Int32, _ descriptor: OneDNNMemoryDescriptor, _ pointer: UnsafeMutableRawPointer) {
        self.slot = slot
        self.descriptor = descriptor
        self.pointer = pointer
    }

    /// Read-only operands (oneDNN never writes its sources and weights).
    init(_ slot: Int32, _ descriptor: OneDNNMemoryDescriptor, reading pointer: UnsafeRawPointer) {
        self.init(slot, descriptor, UnsafeMutableRawPointer(mutating: pointer))
    }
}
