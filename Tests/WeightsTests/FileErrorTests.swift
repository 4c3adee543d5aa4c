import Foundation
import Testing
import Weights

/// Problems with the path itself, and content that is no weight file at all.
@Suite struct FileErrorTests {
    @Test func missingFile() {
        let path = "/nonexistent/dir/model.ckpt"
        expectWeightsError(.fileNotFound, path: path) { _ = try WeightFile.open(path) }
        expectWeightsError(.fileNotFound, path: path) { _ = try TorchCheckpoint(path: path) }
        expectWeightsError(.fileNotFound, path: path) { _ = try SafetensorsFile(path: path) }
    }

    @Test func directory() throws {
        _ = try TestFiles.withTemporaryDirectory { dir in
            expectWeightsError(.notARegularFile, path: dir, containing: "directory") { _ = try WeightFile.open(dir) }
        }
    }

    @Test func emptyAndTinyFiles() throws {
        try TestFiles.withTemporaryDirectory { dir in
            for n in 0 ..< 8 {
                let path = dir + "/f\(n)"
                try TestFiles.write([UInt8](repeating: 0x20, count: n), to: path)
                expectWeightsError(.truncated, path: path) { _ = try WeightFile.open(path) }
            }
        }
    }

    @Test func unknownContent() {
        let text = Array("this is a text file, not weights\n".utf8)
        expectWeightsError(.unknownFormat, path: "notes.txt") { _ = try WeightFile.open(storage: storage(text), path: "notes.txt") }
        // A pre-1.6 torch.save file is a bare pickle: recognised and explained.
        let legacy: [UInt8] = [0x80, 0x02, 0x8A, 0x0A, 0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19, 0x2E]
        expectWeightsError(.unknownFormat, containing: "legacy") { _ = try WeightFile.open(storage: storage(legacy), path: "old.pt") }
    }

    @Test func detectsFormatFromContentNotExtension() throws {
        let ckpt = try TestFiles.fixture("ckpt_edge_cases.ckpt")
        try TestFiles.withTemporaryDirectory { dir in
            let renamed = dir + "/looks-like.safetensors"
            try FileManager.default.copyItem(atPath: ckpt, toPath: renamed)
            #expect(try WeightFile.format(of: renamed) == .pytorchZip)
            #expect(try WeightFile.open(renamed).count == 8)
        }
    }
}
