import DynamiCrafterModel

/// Step caching for one run (DeepCache): every `interval`-th step runs the whole UNet and keeps
/// its deep feature; the steps between reuse that feature and run only the shallow blocks.
///
/// Made per run and dropped with it: the feature has the run's batch and size, and holds one
/// activation (`[B·T, h, w, 320]` f32 for the published models: 42 MB at 256, 377 MB at 1024).
struct StepCache {
    let interval: Int
    let branch: Int
    private var feature: UNetDeepFeature?
    /// UNet passes so far: full (deep path run) and shallow (deep feature reused).
    private(set) var fullPasses = 0
    private(set) var shallowPasses = 0

    init(interval: Int, branch: Int = UNet.defaultCacheBranch) {
        self.interval = interval
        self.branch = branch
    }

    /// The pass for step `n` (0 = the first step of the run).
    mutating func path(forStep n: Int) -> UNetDeepPath {
        if n % interval != 0, let feature { return .reuse(feature) }
        // Dropped before the full pass, so that two features never coexist.
        feature = nil
        return .computeAndKeep(branch: branch)
    }

    /// Records a finished pass and keeps its deep feature, if it computed one.
    mutating func record(_ pass: UNetPass) {
        if let kept = pass.deepFeature {
            feature = kept
            fullPasses += 1
        } else {
            shallowPasses += 1
        }
    }
}
