import CDNNL

/// A oneDNN memory descriptor (`dnnl_memory_desc_t`, a plain C struct in 2.x): logical
/// dimensions in oneDNN's canonical order (N, C, H, W for activations; O, I, H, W for
/// convolution weights; batch, rows, columns for matmul) plus the physical layout.
struct OneDNNMemoryDescriptor: Sendable, Equatable {
    var raw: dnnl_memory_desc_t

    init(_ raw: dnnl_memory_desc_t) { self.raw = raw }

    /// A descriptor by format tag; `dnnl_format_tag_any` lets a primitive choose the layout.
    init(dims: [Int], dataType: dnnl_data_type_t, tag: dnnl_format_tag_t) throws {
        var md = dnnl_memory_desc_t()
        let d = dims.map(Int64.init)
        try OneDNNStatus.check(dnnl_memory_desc_init_by_tag(&md, Int32(d.count), d, dataType, tag),
                               "dnnl_memory_desc_init_by_tag(\(dims), tag \(tag.rawValue))")
        raw = md
    }

    /// A descriptor by element strides (how transposed operands are described without copies).
    init(dims: [Int], dataType: dnnl_data_type_t, strides: [Int]) throws {
        var md = dnnl_memory_desc_t()
        let d = dims.map(Int64.init), s = strides.map(Int64.init)
        try OneDNNStatus.check(dnnl_memory_desc_init_by_strides(&md, Int32(d.count), d, dataType, s),
                               "dnnl_memory_desc_init_by_strides(\(dims), strides \(strides))")
        raw = md
    }

    /// Bytes a buffer of this descriptor needs (padding of blocked layouts included).
    var byteCount: Int {
        withUnsafePointer(to: raw) { Int(dnnl_memory_desc_get_size($0)) }
    }

    var dataType: dnnl_data_type_t { raw.data_type }

    static func == (a: OneDNNMemoryDescriptor, b: OneDNNMemoryDescriptor) -> Bool {
        withUnsafePointer(to: a.raw) { pa in
            withUnsafePointer(to: b.raw) { pb in dnnl_memory_desc_equal(pa, pb) != 0 }
        }
    }
}
