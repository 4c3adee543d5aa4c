import DynamiCrafterModel
import Foundation
import TensorCore
import TensorStorage
import Testing
import TestingSupport
import Weights

@Suite struct ParameterRecorderTests {
    @Test func recordsEachKeyOnceInOrderAndRefusesASecondShape() throws {
        let recorder = ParameterRecorder()
        let source = recorder.source.scoped("block")
        _ = try source.tensor("weight", shape: [4, 3])
        _ = try source.floats("bias", shape: [4])
        _ = try source.tensor("weight", shape: [4, 3])
        try source.declare("scale", shape: [])
        #expect(recorder.entries.map(\.key) == ["block.weight", "block.bias", "block.scale"])
        #expect(recorder.entries.map(\.shape) == [[4, 3], [4], []])
        #expect(throws: ParameterRecordingError.conflictingShapes(key: "block.weight", first: [4, 3], second: [3, 4])) {
            _ = try source.tensor("weight", shape: [3, 4])
        }
        #expect(throws: ParameterRecordingError.invalidShape(key: "block.bad", shape: [-1])) {
            _ = try source.tensor("bad", shape: [-1])
        }
    }

    @Test func placeholdersHaveTheShapeAndHoldZeros() throws {
        let source = ParameterRecorder().source
        let data = try source.tensor("w", shape: [3, 5])
        #expect(data.shape == [3, 5] && data.dtype == .f32 && !data.isFileMapped)
        #expect(data.toTensor().scalars == Array(repeating: 0, count: 15))
        #expect(try source.floats("b", shape: [2, 2]).scalars == [0, 0, 0, 0])
        #expect(!source.contains("w") && source.storedShape("w") == nil)
    }

    @Test func blocksBuiltFromPlaceholdersRefuseToRun() throws {
        let recorder = ParameterRecorder()
        let linear = try Linear(recorder.source.scoped("fc"), inFeatures: 3, outFeatures: 2, context: recorder.context)
        #expect(linear.inFeatures == 3 && linear.outFeatures == 2)
        #expect(throws: ParameterRecordingError.placeholderRun(operation: "Linear")) {
            _ = try linear.callAsFunction(Tensor(zeros: [1, 3]))
        }
        let conv = try Conv2d(recorder.source.scoped("conv"), inChannels: 2, outChannels: 4, kernel: 3, padding: 1,
                              context: recorder.context)
        #expect(throws: ParameterRecordingError.placeholderRun(operation: "Conv2d")) {
            _ = try conv.callAsFunction(Tensor(zeros: [1, 4, 4, 2]))
        }
        // A weight of the wrong rank is refused as by a real backend.
        #expect(throws: TensorError.self) {
            _ = try recorder.context.backend.makeLinear(weight: recorder.source.tensor("w3", shape: [2, 3, 1]),
                                                        bias: nil, precision: .f32)
        }
    }

    /// The manifest is what loading reads, plus the tensors no block reads: the schedule
    /// buffers and the OpenCLIP parts DynamiCrafter does not run.
    @Test(arguments: ["tiny-256", "tiny-512"])
    func manifestIsWhatLoadingReads(name: String) throws {
        let config = try ManifestFixtures.config("config-\(name).json")
        let manifest = try ParameterManifest(config: config)
        let recording = UNetRecordingArchive(base: try ReferenceFixtures.weights(name))
        _ = try ModelNetworks(parameters: ParameterSource(archive: recording), config: config,
                              context: ComputeContext(backend: try ComputeBackends.make(.openblas)))
        #expect(recording.read.isSubset(of: Set(manifest.keys)))
        let lastTextBlock = "cond_stage_model.model.transformer.resblocks.\(try config.textEncoderArchitecture().textCfg.layers - 1)."
        func unread(_ key: String) -> Bool {
            CheckpointKeys.scheduleBuffers.contains(key) || key == CheckpointKeys.scaleArr
                || key.hasSuffix("text_projection") || key.hasSuffix("logit_scale") || key.hasPrefix(lastTextBlock)
                || (key.hasPrefix("embedder.model.") && !key.hasPrefix("embedder.model.visual."))
                || key == "embedder.model.visual.proj" || key.hasPrefix("embedder.model.visual.ln_post.")
        }
        let notRead = manifest.keys.filter { !recording.read.contains($0) }
        #expect(notRead.allSatisfy(unread), "read by no block: \(notRead.filter { !unread($0) })")
        #expect(manifest.keys.filter(unread).allSatisfy { !recording.read.contains($0) })
    }

    /// The published models' manifests are derived without loading anything: quickly, and
    /// without the gigabytes their weights would take.
    @Test func realSizeManifestIsCheap() throws {
        let start = Date()
        for preset in Preset.all { _ = try ParameterManifest(config: preset.config) }
        // About 40 ms each in a debug build on a loaded machine; the bound only catches a return
        // to real allocation or packing (seconds to minutes).
        #expect(Date().timeIntervalSince(start) < 30)
    }
}
