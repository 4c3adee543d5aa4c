import Foundation
import TensorStorage
import Testing
import TestingSupport
import Weights

/// Checkpoints written by the test writer: every dtype, ZIP64 forced, strided views.
@Suite struct TinyCheckpointTests {
    static func allDtypes() throws -> TestCheckpointWriter {
        var w = TestCheckpointWriter()
        for (i, dtype) in DType.allCases.enumerated() {
            w.add("model.diffusion_model.t\(i).\(dtype.rawValue.lowercased())", try sampleTensor(dtype, [3, 2], seed: i))
        }
        w.add("scalar", try sampleTensor(.f32, []))
        w.add("empty", try sampleTensor(.f32, [0, 3]))
        return w
    }

    @Test(arguments: [(false, true), (true, true), (false, false)])
    func roundTripsEveryDtype(zip64Everywhere: Bool, zip64EndRecords: Bool) throws {
        var w = try Self.allDtypes()
        w.zip.zip64Everywhere = zip64Everywhere
        w.zip.zip64EndRecords = zip64EndRecords
        let bytes = w.build()
        let ckpt = try TorchCheckpoint(storage: storage(bytes), path: "tiny.ckpt")
        #expect(ckpt.rootName == "archive")
        #expect(ckpt.otherTopLevelKeys == ["callbacks", "epoch", "global_step", "lr"])
        #expect(ckpt.names.count == DType.allCases.count + 2)
        for (i, dtype) in DType.allCases.enumerated() {
            let name = "model.diffusion_model.t\(i).\(dtype.rawValue.lowercased())"
            let t = try ckpt.tensor(named: name)
            let expected = try sampleTensor(dtype, [3, 2], seed: i)
            #expect(t.dtype == dtype && t.shape == [3, 2])
            #expect(sameBytes(t, expected), "\(name)")
            // Stored data is 64-byte aligned in the file, as PyTorch writes it.
            #expect(t.byteOffset % 64 == 0)
        }
        #expect(ckpt.info(named: "scalar") == TensorInfo(dtype: .f32, shape: []))
        #expect(try ckpt.tensor(named: "empty").byteCount == 0)
    }

    @Test func zip64FileOnDisk() throws {
        var w = try Self.allDtypes()
        w.zip.zip64Everywhere = true
        try TestFiles.withTemporaryDirectory { dir in
            let path = dir + "/zip64.ckpt"
            try TestFiles.write(w.build(), to: path)
            let archive = try WeightFile.open(path)
            #expect(archive.format == .pytorchZip)
            #expect(archive.path == path)
            #expect(archive.count == DType.allCases.count + 2)
        }
    }

    @Test func topLevelDictIsTheStateDictWithoutAWrapper() throws {
        var w = try Self.allDtypes()
        w.wrapInStateDict = false
        let ckpt = try TorchCheckpoint(storage: storage(w.build()), path: "bare.ckpt")
        #expect(ckpt.names.count == DType.allCases.count + 2)
        #expect(ckpt.otherTopLevelKeys.isEmpty)
    }

    @Test func anyRootFolderName() throws {
        var w = try Self.allDtypes()
        w.root = "my model v2"
        let ckpt = try TorchCheckpoint(storage: storage(w.build()), path: "x.ckpt")
        #expect(ckpt.rootName == "my model v2")
        #expect(ckpt.count == DType.allCases.count + 2)
    }

    /// Offsets, permuted strides, broadcast (stride 0) and size-1 dimensions with arbitrary
    /// strides, checked element by element against a direct strided read.
    @Test func stridedViews() throws {
        let base = try sampleTensor(.f32, [24])
        var w = TestCheckpointWriter()
        w.storages = [("s", rawBytes(base))]
        let views: [(String, Int, [Int], [Int])] = [
            ("transposed", 0, [4, 6], [1, 4]),
            ("offset", 5, [3, 4], [4, 1]),
            ("offset_strided", 1, [2, 3, 2], [12, 4, 1]),
            ("broadcast", 2, [3, 4], [0, 1]),
            ("size_one_dims", 3, [1, 5, 1], [99, 1, 7]),
            ("scalar_view", 23, [], []),
            ("empty_view", 24, [0, 3], [3, 1]),
            ("step", 0, [12], [2]),
        ]
        for (name, offset, shape, strides) in views {
            w.items.append(.init(name: name, storageClass: "FloatStorage", storageKey: "s", storageCount: 24,
                                 offset: offset, shape: shape, strides: strides))
        }
        let ckpt = try TorchCheckpoint(storage: storage(w.build()), path: "views.ckpt")
        let source = base.toTensor().scalars
        for (name, offset, shape, strides) in views {
            let t = try ckpt.tensor(named: name)
            #expect(t.shape == shape)
            let values = t.toTensor().scalars
            var expected: [Float] = []
            let n = shape.reduce(1, *)
            for flat in 0 ..< n {
                var rest = flat
                var position = offset
                for d in shape.indices.reversed() {
                    position += (rest % shape[d]) * strides[d]
                    rest /= shape[d]
                }
                expected.append(source[position])
            }
            #expect(values == expected, "\(name)")
        }
        #expect(!ckpt.isStrided("size_one_dims"))
        #expect(!ckpt.isStrided("offset"))
        #expect(ckpt.isStrided("broadcast"))
        #expect(ckpt.isStrided("step"))
    }

    @Test func parameterRebuildAndUnknownObjectsOutsideTheStateDict() throws {
        var w = TestCheckpointWriter()
        w.storages = [("0", rawBytes(try sampleTensor(.f32, [4]))), ("1", [1, 2, 3, 4, 5, 6, 7, 8])]
        var p = PickleWriter()
        p.proto(2)
        p.emptyDict()
        p.mark()
        p.string("optimizer_states")
        // An unknown class, called, with state set, holding a tensor of an unknown storage type.
        p.global("torch.optim.adam", "Adam"); p.emptyTuple(); p.reduce()
        p.mark()
        p.global("torch._utils", "_rebuild_tensor_v2")
        p.tuple { p in
            p.tuple { p in p.string("storage"); p.global("torch", "ComplexFloatStorage"); p.string("1"); p.string("cpu"); p.int(1) }
            p.binpersid(); p.int(0); p.intTuple([1]); p.intTuple([1]); p.newFalse()
            p.global("collections", "OrderedDict"); p.emptyTuple(); p.reduce()
        }
        p.reduce()
        p.emptyList(); p.none(); p.append()
        p.tuple(); p.build()
        p.string("state_dict")
        p.global("collections", "OrderedDict"); p.emptyTuple(); p.reduce()
        p.string("weight")
        p.global("torch._utils", "_rebuild_parameter")
        p.tuple { p in
            p.global("torch._utils", "_rebuild_tensor_v2")
            p.tuple { p in
                p.tuple { p in p.string("storage"); p.global("torch", "FloatStorage"); p.string("0"); p.string("cuda:0"); p.int(4) }
                p.binpersid(); p.int(0); p.intTuple([2, 2]); p.intTuple([2, 1]); p.newFalse()
                p.global("collections", "OrderedDict"); p.emptyTuple(); p.reduce()
            }
            p.reduce()
            p.newTrue()
            p.global("collections", "OrderedDict"); p.emptyTuple(); p.reduce()
        }
        p.reduce()
        p.setitem()
        p.string("not_a_tensor"); p.int(5); p.setitem()
        p.setitems()
        p.stop()
        let ckpt = try TorchCheckpoint(storage: storage(w.build(pickle: p.bytes)), path: "params.ckpt")
        #expect(ckpt.names == ["weight"])
        #expect(ckpt.otherTopLevelKeys == ["optimizer_states"])
        let expected = try sampleTensor(.f32, [4]).toTensor().scalars
        let weight = try ckpt.tensor(named: "weight")
        #expect(weight.shape == [2, 2])
        #expect(weight.toTensor().scalars == expected)
    }

    /// Opening parses the directory and the pickle only: a storage whose local header is
    /// damaged is noticed when that tensor is read, not before.
    @Test func storagesAreReadLazily() throws {
        var w = TestCheckpointWriter()
        w.add("a", try sampleTensor(.f32, [4]))
        w.add("b", try sampleTensor(.f32, [4]))
        var bytes = w.build()
        let header = try #require(localHeaderOffset(of: "archive/data/1", in: bytes))
        bytes[header] = 0 // breaks the local header signature of storage "1"
        let ckpt = try TorchCheckpoint(storage: storage(bytes), path: "lazy.ckpt")
        #expect(ckpt.names == ["a", "b"])
        #expect(ckpt.info(named: "b") == TensorInfo(dtype: .f32, shape: [4]))
        _ = try ckpt.tensor(named: "a")
        expectWeightsError(.invalidZip, path: "lazy.ckpt", containing: "archive/data/1") { _ = try ckpt.tensor(named: "b") }
    }

    @Test func laterDuplicateKeysWin() throws {
        var w = TestCheckpointWriter()
        w.storages = [("0", rawBytes(try sampleTensor(.f32, [2]))), ("1", rawBytes(try sampleTensor(.f32, [3])))]
        w.items = [
            .init(name: "x", storageClass: "FloatStorage", storageKey: "0", storageCount: 2, offset: 0, shape: [2], strides: [1]),
            .init(name: "x", storageClass: "FloatStorage", storageKey: "1", storageCount: 3, offset: 0, shape: [3], strides: [1]),
        ]
        let ckpt = try TorchCheckpoint(storage: storage(w.build()), path: "dup.ckpt")
        #expect(ckpt.names == ["x"])
        #expect(ckpt.info(named: "x")?.shape == [3])
    }
}
