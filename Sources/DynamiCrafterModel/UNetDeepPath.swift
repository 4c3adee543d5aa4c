/// What one UNet pass does with its deep path, the blocks below a cache branch (see
/// `UNetDeepFeature`).
public enum UNetDeepPath: Sendable {
    /// Run every block; keep nothing (the plain forward).
    case compute
    /// Run every block and return the deep feature at `branch` (an input block index).
    case computeAndKeep(branch: Int)
    /// Run only input blocks `0…branch` (they give the skips still needed) and the output
    /// blocks from `L−1−branch` on, starting from `feature` instead of the deep path.
    case reuse(UNetDeepFeature)
}
