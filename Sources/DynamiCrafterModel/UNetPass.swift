import TensorCore
import TensorStorage

/// The result of a UNet pass that may keep its deep feature (`UNetDeepPath`).
public struct UNetPass: Sendable {
    /// `[B, outChannels, T, h, w]`.
    public let output: Tensor
    /// Set for `.computeAndKeep`, nil otherwise.
    public let deepFeature: UNetDeepFeature?
}
