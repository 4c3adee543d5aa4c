import TensorCore
import TensorStorage

/// The output of the UNet's deep path, kept from a full pass for step caching (DeepCache, Ma et
/// al. 2023): the feature that enters output block `L−1−branch`, before the skip of input block
/// `branch` is concatenated to it. Channels-last `[B·T, h, w, C]`.
///
/// Adjacent denoising steps change this high-level feature little, so a later step can take it
/// instead of running every block below the branch (an approximation: the feature is a
/// previous step's).
public struct UNetDeepFeature: Sendable {
    /// The input block whose skip meets the feature.
    public let branch: Int
    let value: Tensor

    init(branch: Int, value: Tensor) {
        self.branch = branch
        self.value = value
    }

    public var shape: [Int] { value.shape }
}
