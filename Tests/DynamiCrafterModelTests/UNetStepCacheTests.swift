import DynamiCrafterModel
import TensorCore
import TensorStorage
import Testing

/// The UNet's shallow/deep split for step caching, on the golden tiny UNets.
@Suite("UNet step cache")
struct UNetStepCacheTests {
    struct Inputs {
        let x: Tensor
        let t: [Int]
        let context: Tensor
        let fs: [Int]
    }

    static func inputs(_ f: UNetFixture, _ prefix: String) throws -> Inputs {
        Inputs(x: try f.tensor("\(prefix).x"), t: try f.ints("\(prefix).t"), context: try f.tensor("\(prefix).context"),
               fs: try f.ints("\(prefix).fs"))
    }

    /// The pass with `path`, and the number of blocks it ran (`interrupt` is polled before each).
    static func pass(_ unet: UNet, _ i: Inputs, _ path: UNetDeepPath) throws -> (UNetPass, blocks: Int) {
        var blocks = 0
        let pass = try unet(x: i.x, timesteps: i.t, context: i.context, fs: i.fs, deepPath: path, interrupt: { blocks += 1 })
        return (pass, blocks)
    }

    @Test("off is the plain forward; a reused feature from the same input gives the full output exactly, at every branch",
          arguments: unetCases)
    func shallowDeepSplit(caseName: String) throws {
        let f = try UNetFixture(caseName)
        let unet = try f.model(.onednn)
        let i = try Self.inputs(f, "b2")
        let plain = try unet(x: i.x, timesteps: i.t, context: i.context, fs: i.fs)

        let (computed, allBlocks) = try Self.pass(unet, i, .compute)
        #expect(computed.output.scalars == plain.scalars)
        #expect(computed.deepFeature == nil)
        let inputBlocks = unet.cacheBranches.count
        // Input blocks, the middle block, output blocks (as many as input blocks).
        #expect(allBlocks == 2 * inputBlocks + 1)

        for branch in unet.cacheBranches {
            let (full, fullBlocks) = try Self.pass(unet, i, .computeAndKeep(branch: branch))
            #expect(full.output.scalars == plain.scalars, "branch \(branch): keeping the feature changed the output")
            #expect(fullBlocks == allBlocks)
            let feature = try #require(full.deepFeature)
            #expect(feature.branch == branch)
            let (shallow, shallowBlocks) = try Self.pass(unet, i, .reuse(feature))
            #expect(shallow.deepFeature == nil)
            // Bit-identical: the shallow blocks compute the same numbers from the same input.
            #expect(shallow.output.scalars == plain.scalars, "branch \(branch): shallow pass differs from the full one")
            // Input blocks 0…branch and the output blocks that take their skips: nothing deeper.
            #expect(shallowBlocks == 2 * (branch + 1), "branch \(branch): \(shallowBlocks) blocks run")
        }
    }

    @Test("a feature from another timestep changes the output; foreign features and branches are refused")
    func reuseAcrossInputs() throws {
        let f = try UNetFixture("tiny-256")
        let unet = try f.model(.onednn)
        let i = try Self.inputs(f, "b2")
        let full = try Self.pass(unet, i, .computeAndKeep(branch: UNet.defaultCacheBranch)).0
        let feature = try #require(full.deepFeature)

        // The next step's input: another timestep. The cached feature is then an approximation.
        let later = Inputs(x: i.x, t: i.t.map { max($0 - 20, 0) }, context: i.context, fs: i.fs)
        let exact = try unet(x: later.x, timesteps: later.t, context: later.context, fs: later.fs)
        let approximate = try Self.pass(unet, later, .reuse(feature)).0.output
        #expect(approximate.shape == exact.shape)
        #expect(approximate.scalars != exact.scalars)

        // A feature of another batch size does not fit the skips.
        let single = try Self.inputs(f, "b1")
        #expect(throws: TensorError.self) { _ = try Self.pass(unet, single, .reuse(feature)) }
        #expect(throws: TensorError.self) { _ = try Self.pass(unet, i, .computeAndKeep(branch: unet.cacheBranches.count)) }
        #expect(throws: TensorError.self) { _ = try Self.pass(unet, i, .computeAndKeep(branch: -1)) }
    }
}
