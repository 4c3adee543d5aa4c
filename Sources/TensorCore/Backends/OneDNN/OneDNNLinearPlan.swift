/// What a Linear layer runs for one row count: the matmul primitive (reading the layer's packed
/// weights in `matmul.weights`' layout) and, for native bf16, the reorder that converts the
/// input rows to bf16.
struct OneDNNLinearPlan: Sendable {
    let matmul: OneDNNPrimitive
    let sourceToBF16: OneDNNPrimitive?
}
