/// What a convolution runs for one input shape: the convolution primitive, (reading the packed weights in
/// `convolution.weights`' layout), and the reorders around it (channels-last f32 in → bf16 or a blocked layout;
/// blocked → channels-last out). `algorithm` says which convolution this shape got.
struct OneDNNConvPlan: Sendable {
    let convolution: OneDNNPrimitive
    let sourceReorder: OneDNNPrimitive?
    let destinationReorder: OneDNNPrimitive?
    let algorithm: ConvAlgorithm
}
