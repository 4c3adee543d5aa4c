import Foundation
import TensorStorage
import Testing
import Weights

@Suite struct SafetensorsTests {
    @Test func readsExpectedFixture() throws {
        let path = try TestFiles.fixture("ckpt_edge_cases.expected.safetensors")
        let file = try SafetensorsFile(path: path)
        #expect(file.path == path)
        #expect(file.format == .safetensors)
        #expect(file.names == ["empty", "fp16", "int64", "offset_view", "scalar", "shared_a", "shared_b", "transposed"])
        #expect(file.info(named: "int64") == TensorInfo(dtype: .i64, shape: [7]))
        #expect(file.metadata.isEmpty)
        let ints = try file.tensor(named: "int64")
        #expect(ints.storage.count == 970) // a view of the mapping
        #expect(try WeightFile.format(of: path) == .safetensors)
    }

    @Test func writerRoundTripsEveryDtype() throws {
        var tensors: [(name: String, tensor: TensorData)] = []
        for (i, dtype) in DType.allCases.enumerated() {
            tensors.append(("t.\(dtype.rawValue)", try sampleTensor(dtype, [2, 3], seed: i)))
        }
        tensors.append(("scalar", try sampleTensor(.f32, [])))
        tensors.append(("empty", try sampleTensor(.f16, [0, 5])))
        tensors.append(("quote\"back\\slash\nnewline\u{1}ctl é 🎞", try sampleTensor(.f32, [1])))
        let metadata = ["format": "pt", "note": "tab\there \"quoted\""]
        try TestFiles.withTemporaryDirectory { dir in
            let path = dir + "/out.safetensors"
            try SafetensorsWriter.write(tensors, metadata: metadata, to: path)
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["out.safetensors"])
            let file = try SafetensorsFile(path: path)
            #expect(file.metadata == metadata)
            #expect(Set(file.names) == Set(tensors.map(\.name)))
            for (name, t) in tensors {
                let u = try file.tensor(named: name)
                #expect(u.dtype == t.dtype && u.shape == t.shape, "\(name)")
                #expect(sameBytes(u, t), "\(name)")
                // Element-size-first order keeps every tensor aligned in the mapping.
                #expect(u.byteOffset % t.dtype.byteSize == 0, "\(name)")
            }
            let raw = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
            let headerLength = raw[0 ..< 8].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
            #expect(headerLength % 8 == 0)
            #expect(raw[8] == UInt8(ascii: "{"))
            #expect(raw[8 + headerLength - 1] == UInt8(ascii: " ") || raw[8 + headerLength - 1] == UInt8(ascii: "}"))
        }
    }

    /// Rewriting the reference file reproduces it byte for byte: same order, JSON and padding.
    @Test(arguments: ["ckpt_edge_cases.expected.safetensors", "ckpt_subset_legacy.expected.safetensors"])
    func writerMatchesReferenceBytes(_ fixture: String) throws {
        let path = try TestFiles.fixture(fixture)
        let file = try WeightFile.open(path)
        try TestFiles.withTemporaryDirectory { dir in
            let out = dir + "/copy.safetensors"
            try SafetensorsWriter.write(try file.names.map { ($0, try file.tensor(named: $0)) }, to: out)
            #expect(try Data(contentsOf: URL(fileURLWithPath: out)) == Data(contentsOf: URL(fileURLWithPath: path)))
        }
    }

    @Test func streamingWriterChecksWhatItIsGiven() throws {
        try TestFiles.withTemporaryDirectory { dir in
            let out = dir + "/x.safetensors"
            let entries = [(name: "a", info: TensorInfo(dtype: .f32, shape: [2])), (name: "b", info: TensorInfo(dtype: .f32, shape: [3]))]
            expectWeightsError(.invalidTensor, path: out, containing: "'b'") {
                try SafetensorsWriter.write(entries: entries, to: out) { name in
                    try sampleTensor(.f32, name == "a" ? [2] : [4])
                }
            }
            // Nothing is left behind: neither the output nor the temporary file.
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty)

            var produced: [String] = []
            let size = try SafetensorsWriter.write(entries: entries, metadata: [:], to: out) { name in
                produced.append(name)
                return try sampleTensor(.f32, name == "a" ? [2] : [3])
            }
            #expect(produced == ["a", "b"])
            #expect(size == (try FileManager.default.attributesOfItem(atPath: out)[.size] as? Int))
        }
    }

    @Test func writerRefusesDuplicatesAndReservedNames() throws {
        try TestFiles.withTemporaryDirectory { dir in
            let t = try sampleTensor(.f32, [1])
            expectWeightsError(.unsupported, containing: "twice") {
                try SafetensorsWriter.write([("a", t), ("a", t)], to: dir + "/x.safetensors")
            }
            expectWeightsError(.unsupported, containing: "__metadata__") {
                try SafetensorsWriter.write([("__metadata__", t)], to: dir + "/x.safetensors")
            }
            expectWeightsError(.io, path: dir + "/missing/x.safetensors") {
                try SafetensorsWriter.write([("a", t)], to: dir + "/missing/x.safetensors")
            }
        }
    }

    @Test func writerReplacesAnExistingFile() throws {
        try TestFiles.withTemporaryDirectory { dir in
            let out = dir + "/x.safetensors"
            try TestFiles.write(Array("old".utf8), to: out)
            try SafetensorsWriter.write([("a", try sampleTensor(.f32, [4]))], to: out)
            #expect(try SafetensorsFile(path: out).names == ["a"])
        }
    }
}

extension SafetensorsTests {
    @Test func writerRefusesImpossibleShapes() throws {
        try TestFiles.withTemporaryDirectory { dir in
            let out = dir + "/x.safetensors"
            for shape in [[-1], [Int.max, 4], [1 << 40, 1 << 30]] {
                expectWeightsError(.unsupported, path: out) {
                    try SafetensorsWriter.write(entries: [("a", TensorInfo(dtype: .f32, shape: shape))], to: out) { _ in
                        try sampleTensor(.f32, [1])
                    }
                }
            }
            let remaining = try FileManager.default.contentsOfDirectory(atPath: dir)
            #expect(remaining.isEmpty)
        }
    }
}
