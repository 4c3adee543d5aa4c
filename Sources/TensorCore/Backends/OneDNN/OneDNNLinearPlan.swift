/// What a Linear layer runs for one row count: the matmul primitive, the packed weights in
/// the layout it reads, and (native bf16) the reorder that converts the input rows to bf16.
struct OneDNNLinearPlan: Sendable {
    let matmul: OneDNNPrimitive
    let weights: OneDNNAlignedBuffer
    let sourceToBF16: OneDNNPrimitive?
}
