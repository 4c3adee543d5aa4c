import Foundation
import TensorStorage
import Testing
import Weights

/// The reference checkpoints written by torch.save against their expected tensors.
@Suite struct GoldenCheckpointTests {
    @Test(arguments: ["ckpt_edge_cases", "ckpt_subset_legacy"])
    func checkpointMatchesExpectedSafetensors(_ name: String) throws {
        let ckpt = try WeightFile.open(try TestFiles.fixture("\(name).ckpt"))
        let expected = try WeightFile.open(try TestFiles.fixture("\(name).expected.safetensors"))
        #expect(ckpt.format == .pytorchZip)
        #expect(expected.format == .safetensors)
        #expect(!ckpt.names.isEmpty)
        #expect(ckpt.names == expected.names)
        try expectSameTensors(ckpt, expected)
    }

    @Test func edgeCasesLayout() throws {
        let path = try TestFiles.fixture("ckpt_edge_cases.ckpt")
        let ckpt = try TorchCheckpoint(path: path)
        #expect(ckpt.rootName == "ckpt_edge_cases")
        #expect(ckpt.otherTopLevelKeys == ["epoch", "global_step", "pytorch-lightning_version"])
        #expect(ckpt.names == ["empty", "fp16", "int64", "offset_view", "scalar", "shared_a", "shared_b", "transposed"])
        #expect(ckpt.info(named: "transposed") == TensorInfo(dtype: .f32, shape: [10, 6]))
        #expect(ckpt.info(named: "scalar") == TensorInfo(dtype: .f32, shape: []))
        #expect(ckpt.info(named: "empty") == TensorInfo(dtype: .f32, shape: [0, 4]))
        #expect(ckpt.info(named: "fp16")?.dtype == .f16)
        #expect(ckpt.info(named: "int64")?.dtype == .i64)
        #expect(ckpt.info(named: "epoch") == nil)
        #expect(ckpt.isStrided("transposed"))
        #expect(!ckpt.isStrided("offset_view"))

        // Contiguous tensors are views of the one mapping; shared storages share bytes.
        let a = try ckpt.tensor(named: "shared_a")
        let b = try ckpt.tensor(named: "shared_b")
        let view = try ckpt.tensor(named: "offset_view")
        #expect(a.storage === b.storage && b.storage === view.storage)
        #expect(a.byteOffset == b.byteOffset)
        #expect(view.byteOffset == b.byteOffset + 4 * 4)
        #expect(a.storage.count == 3317) // the whole file is mapped, not copied
        // The strided one is a contiguous copy.
        let t = try ckpt.tensor(named: "transposed")
        #expect(t.storage !== a.storage)
        #expect(t.toTensor()[1, 0] == t.toTensor().scalars[6])

        let scalar = try ckpt.tensor(named: "scalar")
        #expect(scalar.elementCount == 1 && scalar.byteCount == 4)
        #expect(try ckpt.tensor(named: "empty").byteCount == 0)
    }

    @Test func tensorsOutliveTheArchive() throws {
        var data: TensorData?
        do {
            let ckpt = try WeightFile.open(try TestFiles.fixture("ckpt_subset_legacy.ckpt"))
            data = try ckpt.tensor(named: "betas")
        }
        let betas = try #require(data).toTensor()
        #expect(betas.shape == [1000])
        #expect(betas.scalars.allSatisfy { $0 > 0 && $0 < 1 })
    }

    @Test func missingNameIsAnErrorNamingTheFile() throws {
        let path = try TestFiles.fixture("ckpt_edge_cases.ckpt")
        let ckpt = try WeightFile.open(path)
        expectWeightsError(.tensorNotFound, path: path, containing: "nope") { _ = try ckpt.tensor(named: "nope") }
        expectWeightsError(.tensorNotFound, path: path) { _ = try ckpt.requireInfo(named: "nope") }
        let st = try WeightFile.open(try TestFiles.fixture("ckpt_edge_cases.expected.safetensors"))
        expectWeightsError(.tensorNotFound) { _ = try st.tensor(named: "nope") }
    }

    /// tiny-256's safetensors and its legacy-named .ckpt hold the same tensors. Needs the shared
    /// reference folder next to the checkout; skipped without it.
    @Test(.enabled(if: TestFiles.goldenDirectory != nil, "reference goldens (../shared/reference/golden) not found"))
    func tiny256CheckpointEqualsSafetensors() throws {
        let root = try #require(TestFiles.goldenDirectory)
        let st = try WeightFile.open(root + "/tiny-256/weights.safetensors")
        let ckpt = try WeightFile.open(root + "/tiny-256/weights_framestride.ckpt")
        #expect(st.count > 900)
        let legacy = ckpt.names.filter { $0.contains("framestride_embed") }
        #expect(!legacy.isEmpty)
        try expectSameTensors(ckpt, st) { name in
            name.replacingOccurrences(of: "diffusion_model.framestride_embed.", with: "diffusion_model.fps_embedding.")
        }
    }
}
