import Foundation
import TensorStorage
import Testing
import Weights

/// Hostile or damaged safetensors files: every one is a `WeightsError` naming the file.
@Suite struct SafetensorsBadInputTests {
    /// A file from a header string and a data section.
    static func file(_ header: String, data: [UInt8] = [UInt8](repeating: 0, count: 64), length: UInt64? = nil) -> [UInt8] {
        var out: [UInt8] = []
        let h = Array(header.utf8)
        withUnsafeBytes(of: (length ?? UInt64(h.count)).littleEndian) { out += $0 }
        return out + h + data
    }

    static func open(_ bytes: [UInt8], path: String = "bad.safetensors") throws -> any WeightArchive {
        try WeightFile.open(storage: storage(bytes), path: path)
    }

    @Test func truncatedAtEveryCutPoint() throws {
        let bytes = try TestFiles.fixtureBytes("ckpt_edge_cases.expected.safetensors")
        for cut in 0 ..< bytes.count {
            let error = expectWeightsError(.truncated, path: "cut.safetensors") {
                _ = try Self.open(Array(bytes[..<cut]), path: "cut.safetensors")
            }
            if error == nil { Issue.record("cut at \(cut) was accepted"); break }
        }
    }

    @Test func headerLengthLargerThanTheFile() {
        let bytes = Self.file("{}", length: 5000)
        expectWeightsError(.truncated, path: "bad.safetensors", containing: "larger than the file") { _ = try Self.open(bytes) }
        expectWeightsError(.invalidHeader, containing: "limit") { _ = try Self.open(Self.file("{}", length: UInt64.max)) }
        expectWeightsError(.invalidHeader, containing: "limit") { _ = try Self.open(Self.file("{}", length: 200_000_000)) }
    }

    @Test func offsetsPastTheEnd() {
        let bytes = Self.file(#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[56,72]}}"#)
        expectWeightsError(.truncated, containing: "past the end") { _ = try Self.open(bytes) }
        let huge = Self.file(#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[9223372036854775800,9223372036854775807]}}"#)
        expectWeightsError(.truncated) { _ = try Self.open(huge) }
        let overflow = Self.file(#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,99999999999999999999999]}}"#)
        expectWeightsError(.invalidHeader) { _ = try Self.open(overflow) }
    }

    @Test func overlappingTensors() {
        let bytes = Self.file(#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}"#)
        expectWeightsError(.invalidHeader, containing: "overlapping") { _ = try Self.open(bytes) }
        // Touching ranges and empty tensors anywhere are fine.
        let ok = Self.file(#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[0],"data_offsets":[8,8]},"c":{"dtype":"U8","shape":[1],"data_offsets":[16,17]}}"#)
        #expect((try? Self.open(ok))?.count == 3)
    }

    @Test(arguments: [
        (#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[16,0]}}"#, "end before"),
        (#"{"a":{"dtype":"F32","shape":[5],"data_offsets":[0,16]}}"#, "needs 20 bytes"),
        (#"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}}"#, "non-negative"),
        (#"{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,16]}}"#, "overflows"),
        (#"{"a":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,16]}}"#, "bytes"),
        (#"{"a":{"dtype":"F8_E4M3","shape":[4],"data_offsets":[0,4]}}"#, "unsupported dtype"),
        (#"{"a":{"dtype":"F32","shape":[4]}}"#, "data_offsets"),
        (#"{"a":{"shape":[4],"data_offsets":[0,16]}}"#, "dtype"),
        (#"{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}"#, "non-negative integer"),
        (#"{"a":[1,2]}"#, "expected an object"),
        (#"[]"#, "expected an object"),
        (#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, "duplicate key"),
        (#"{"__metadata__":{"x":1}}"#, "expected a string"),
        (#"{"__metadata__":[]}"#, "__metadata__"),
        (#"{"a":"#, "JSON"),
        (#"{"a\u12":{}}"#, "JSON"),
        (#"{"a\ud800":{}}"#, "surrogate"),
        (#"{} x"#, "after the JSON value"),
        (String(repeating: "[", count: 1000), "nested deeper"),
    ])
    func malformedHeaders(_ header: String, _ fragment: String) {
        expectWeightsError(.invalidHeader, path: "bad.safetensors", containing: fragment) { _ = try Self.open(Self.file(header)) }
    }

    @Test func namesThatAreNotUTF8() {
        var header = Array(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#.utf8)
        header[2] = 0xFF
        var bytes: [UInt8] = []
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { bytes += $0 }
        bytes += header + [0, 0, 0, 0]
        expectWeightsError(.notUTF8, path: "bad.safetensors") { _ = try Self.open(bytes) }
    }

    @Test func metadataAndEscapesAreRead() throws {
        let bytes = Self.file(#"{"__metadata__":{"format":"pt","k\"\u00e9":"v\n"},"\u00e9\ud83c\udf9e":{"dtype":"BOOL","shape":[],"data_offsets":[0,1]}}"#)
        let file = try Self.open(bytes)
        #expect(file.metadata == ["format": "pt", "k\"é": "v\n"])
        #expect(file.names == ["é🎞"])
        #expect(file.info(named: "é🎞") == TensorInfo(dtype: .bool, shape: []))
    }
}
