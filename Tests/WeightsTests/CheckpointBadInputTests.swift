import Foundation
import TensorStorage
import Testing
import TestingSupport
import Weights

/// Damaged and hostile zip checkpoints: every one is a `WeightsError` naming the file, never
/// a crash, hang or huge allocation.
@Suite struct CheckpointBadInputTests {
    static func open(_ bytes: [UInt8], path: String = "bad.ckpt") throws -> any WeightArchive {
        try WeightFile.open(storage: storage(bytes), path: path)
    }

    static func simple(zip64: Bool = false) throws -> TestCheckpointWriter {
        var w = TestCheckpointWriter()
        w.add("a", try sampleTensor(.f32, [2, 3]))
        w.add("b", try sampleTensor(.i64, [4]))
        w.zip.zip64Everywhere = zip64
        return w
    }

    /// A checkpoint around a hand-written pickle.
    static func withPickle(_ build: (inout PickleWriter) -> Void) throws -> [UInt8] {
        var p = PickleWriter()
        build(&p)
        var w = TestCheckpointWriter()
        w.storages = [("0", rawBytes(try sampleTensor(.f32, [8])))]
        return w.build(pickle: p.bytes)
    }

    /// Reads every tensor: damage may only surface there.
    static func readAll(_ archive: any WeightArchive) throws {
        for name in archive.names { _ = try archive.tensor(named: name) }
    }

    @Test(arguments: ["ckpt_edge_cases.ckpt", "ckpt_subset_legacy.ckpt"])
    func truncatedAtManyCutPoints(_ fixture: String) throws {
        let bytes = try TestFiles.fixtureBytes(fixture)
        // Every cut near the start and the end (pickle, directory), a spread in between.
        var cuts = Set(0 ..< min(bytes.count, 1500))
        cuts.formUnion(max(0, bytes.count - 1500) ..< bytes.count)
        cuts.formUnion(stride(from: 0, to: bytes.count, by: 97))
        for cut in cuts.sorted() {
            do {
                try Self.readAll(try Self.open(Array(bytes[..<cut]), path: "cut.ckpt"))
                Issue.record("cut at \(cut) of \(bytes.count) was accepted")
            } catch let error as WeightsError {
                #expect(error.path == "cut.ckpt")
                #expect([.truncated, .invalidZip].contains(error.kind), "cut \(cut): \(error)")
            }
        }
    }

    @Test func zip64RecordsTruncated() throws {
        let bytes = try Self.simple(zip64: true).build()
        for cut in bytes.count - 200 ..< bytes.count {
            expectWeightsError(.truncated, path: "bad.ckpt") { _ = try Self.open(Array(bytes[..<cut])) }
        }
    }

    // MARK: - A lying central directory

    /// Offsets of the end records in an archive from `TestZipWriter` (no comment).
    static func endRecord(_ bytes: [UInt8]) -> Int { bytes.count - 22 }

    static func patch32(_ bytes: inout [UInt8], at offset: Int, _ value: UInt32) {
        withUnsafeBytes(of: value.littleEndian) { for (i, b) in $0.enumerated() { bytes[offset + i] = b } }
    }

    static func patch64(_ bytes: inout [UInt8], at offset: Int, _ value: UInt64) {
        withUnsafeBytes(of: value.littleEndian) { for (i, b) in $0.enumerated() { bytes[offset + i] = b } }
    }

    static func patch16(_ bytes: inout [UInt8], at offset: Int, _ value: UInt16) {
        withUnsafeBytes(of: value.littleEndian) { for (i, b) in $0.enumerated() { bytes[offset + i] = b } }
    }

    @Test func centralDirectoryLies() throws {
        var w = try Self.simple()
        w.zip.zip64EndRecords = false
        let good = w.build()
        let eocd = Self.endRecord(good)
        let cdOffset = Int(good[eocd + 16]) | Int(good[eocd + 17]) << 8 | Int(good[eocd + 18]) << 16
        let cdSize = Int(good[eocd + 12]) | Int(good[eocd + 13]) << 8
        _ = try Self.open(good)

        let cases: [(String, (inout [UInt8]) -> Void)] = [
            ("offset +1", { Self.patch32(&$0, at: eocd + 16, UInt32(cdOffset + 1)) }),
            ("offset -1", { Self.patch32(&$0, at: eocd + 16, UInt32(cdOffset - 1)) }),
            ("offset past the end", { Self.patch32(&$0, at: eocd + 16, 0xFFFF_FFF0) }),
            ("size too big", { Self.patch32(&$0, at: eocd + 12, UInt32(cdSize + 100)) }),
            ("size too small", { Self.patch32(&$0, at: eocd + 12, UInt32(cdSize - 10)) }),
            ("count too big", { Self.patch16(&$0, at: eocd + 10, 60000) }),
            ("count too small", { Self.patch16(&$0, at: eocd + 10, 2) }),
            ("count zero", { Self.patch16(&$0, at: eocd + 10, 0) }),
            ("saturated without ZIP64", { Self.patch32(&$0, at: eocd + 16, 0xFFFF_FFFF) }),
            ("local header offset", { Self.patch32(&$0, at: cdOffset + 42, 5) }),
            ("local header offset past the directory", { Self.patch32(&$0, at: cdOffset + 42, UInt32(cdOffset)) }),
            ("entry size past the directory", {
                Self.patch32(&$0, at: cdOffset + 20, UInt32(cdOffset)); Self.patch32(&$0, at: cdOffset + 24, UInt32(cdOffset))
            }),
            ("stored sizes differ", { Self.patch32(&$0, at: cdOffset + 20, 3) }),
            ("name length past the directory", { Self.patch16(&$0, at: cdOffset + 28, 0xFFFF) }),
            ("ZIP64 sizes without the extra field", { Self.patch32(&$0, at: cdOffset + 24, 0xFFFF_FFFF) }),
            ("central signature", { $0[cdOffset] = 0x51 }),
        ]
        for (what, damage) in cases {
            var bytes = good
            damage(&bytes)
            do {
                try Self.readAll(try Self.open(bytes))
                Issue.record("\(what): accepted")
            } catch let error as WeightsError {
                #expect(error.path == "bad.ckpt")
                #expect([.invalidZip, .truncated].contains(error.kind), "\(what): \(error)")
            }
        }
    }

    @Test func zip64RecordsLie() throws {
        let good = try Self.simple(zip64: true).build()
        _ = try Self.open(good)
        let locator = good.count - 22 - 20
        let record = locator - 56
        let cases: [(String, (inout [UInt8]) -> Void)] = [
            ("locator points nowhere", { Self.patch64(&$0, at: locator + 8, 12345) }),
            ("locator points past the end", { Self.patch64(&$0, at: locator + 8, UInt64.max) }),
            ("entry count huge", { Self.patch64(&$0, at: record + 32, UInt64.max / 2) }),
            ("directory offset huge", { Self.patch64(&$0, at: record + 48, UInt64.max - 5) }),
            ("directory size huge", { Self.patch64(&$0, at: record + 40, 1 << 62) }),
            ("record signature", { $0[record] = 0 }),
        ]
        for (what, damage) in cases {
            var bytes = good
            damage(&bytes)
            let error = expectWeightsError(.invalidZip, path: "bad.ckpt") { try Self.readAll(try Self.open(bytes)) }
            #expect(error?.message.contains("zip directory inconsistent") == true, "\(what)")
        }
    }

    @Test func zip64ExtraFieldTooShort() throws {
        let (bytes, _, _, cd) = try Self.simple(zip64: true).zipWithEntries().build()
        var damaged = bytes
        // The first record's extra field claims 24 bytes; shrink its declared size to 8.
        let nameLength = Int(bytes[cd + 28]) | Int(bytes[cd + 29]) << 8
        Self.patch16(&damaged, at: cd + 46 + nameLength + 2, 8)
        expectWeightsError(.invalidZip, path: "bad.ckpt", containing: "ZIP64") { try Self.readAll(try Self.open(damaged)) }
    }

    @Test func compressedEntries() throws {
        var w = try Self.simple()
        let pickleName = "archive/data.pkl"
        var zip = w.zipWithEntries()
        zip.entries[0].method = 8
        expectWeightsError(.compressedEntry, path: "bad.ckpt", containing: pickleName) { _ = try Self.open(zip.build().bytes) }

        zip = w.zipWithEntries()
        let storage = try #require(zip.entries.firstIndex { $0.name == "archive/data/1" })
        zip.entries[storage].method = 8
        expectWeightsError(.compressedEntry, containing: "deflate") { _ = try Self.open(zip.build().bytes) }

        zip = w.zipWithEntries()
        zip.entries[storage].flags |= 1
        expectWeightsError(.compressedEntry, containing: "encrypted") { _ = try Self.open(zip.build().bytes) }

        // A compressed entry nothing uses is harmless.
        w.zip.entries = []
        zip = w.zipWithEntries()
        let version = try #require(zip.entries.firstIndex { $0.name == "archive/version" })
        zip.entries[version].method = 8
        #expect(try Self.open(zip.build().bytes).count == 2)
    }

    @Test func missingOrDuplicatedPickle() throws {
        var zip = TestZipWriter()
        zip.add("archive/version", Array("3".utf8))
        expectWeightsError(.invalidZip, containing: "data.pkl") { _ = try Self.open(zip.build().bytes) }
        zip.add("a/data.pkl", [0x80, 0x02, 0x7D, 0x2E])
        zip.add("b/data.pkl", [0x80, 0x02, 0x7D, 0x2E])
        expectWeightsError(.invalidZip, containing: "2 data.pkl") { _ = try Self.open(zip.build().bytes) }
        var dup = TestZipWriter()
        dup.add("a/data.pkl", [0x80, 0x02, 0x7D, 0x2E])
        dup.add("a/data.pkl", [0x80, 0x02, 0x7D, 0x2E])
        expectWeightsError(.invalidZip, containing: "twice") { _ = try Self.open(dup.build().bytes) }
        // An empty state dict is a valid (empty) checkpoint.
        var empty = TestZipWriter()
        empty.add("a/data.pkl", [0x80, 0x02, 0x7D, 0x2E])
        #expect(try Self.open(empty.build().bytes).names.isEmpty)
    }

    @Test func bigEndianCheckpointsAreRefused() throws {
        var zip = try Self.simple().zipWithEntries()
        let order = try #require(zip.entries.firstIndex { $0.name == "archive/byteorder" })
        zip.entries[order].data = Array("big".utf8)
        expectWeightsError(.unsupported, containing: "little-endian") { _ = try Self.open(zip.build().bytes) }
    }

    // MARK: - Pickle

    @Test func unsupportedOpcode() throws {
        let bytes = try Self.withPickle { p in
            p.proto(2); p.emptyDict(); p.op(0x49); p.bytes += Array("12\n".utf8); p.stop() // INT (text protocol)
        }
        expectWeightsError(.unsupportedOpcode, path: "bad.ckpt", containing: "0x49") { _ = try Self.open(bytes) }
        let error = expectWeightsError(.unsupportedOpcode) { _ = try Self.open(bytes) }
        #expect(error?.message.contains("at byte 3") == true)
        #expect(error?.message.contains("archive/data.pkl") == true)
        for op: UInt8 in [0x00, 0x46, 0x50, 0x67, 0x69, 0x6F, 0x82, 0x96, 0x97, 0x98, 0xFF] {
            let b = try Self.withPickle { p in p.proto(2); p.op(op); p.stop() }
            expectWeightsError(.unsupportedOpcode) { _ = try Self.open(b) }
        }
    }

    @Test func deeplyNestedPickles() throws {
        let marks = try Self.withPickle { p in
            p.proto(2)
            for _ in 0 ..< 100_000 { p.mark() }
            p.stop()
        }
        expectWeightsError(.limitExceeded, path: "bad.ckpt", containing: "nesting too deep") { _ = try Self.open(marks) }

        let lists = try Self.withPickle { p in
            p.proto(2)
            for _ in 0 ..< 100_000 { p.emptyList() }
            for _ in 0 ..< 99_999 { p.append() }
            p.stop()
        }
        expectWeightsError(.limitExceeded, containing: "nesting too deep") { _ = try Self.open(lists) }

        let tuples = try Self.withPickle { p in
            p.proto(2)
            p.emptyTuple()
            for _ in 0 ..< 100_000 { p.tuple1() }
            p.stop()
        }
        expectWeightsError(.limitExceeded, containing: "nesting too deep") { _ = try Self.open(tuples) }

        // A deep chain through the memo: each list is memoized empty, then fetched back and
        // filled after being nested. Python's memo holds references, so there this is a list
        // 5,000 deep; ours holds values (see PickleValue), so every fetch yields the list as it
        // was memoized, no chain forms and nothing nests past two levels. What the user gets is
        // the plain verdict on the top level (the empty list the last BINGET fetched), never a
        // deep structure to release; refusing it as "nesting too deep" would need references.
        let memoChain = try Self.withPickle { p in
            p.proto(2)
            for i in 0 ..< 5000 { p.emptyList(); p.longBinput(UInt32(i)) }
            for i in (1 ..< 5000).reversed() { p.longBinget(UInt32(i - 1)); p.longBinget(UInt32(i)); p.append(); p.op(0x30); p.op(0x30) }
            p.longBinget(0)
            p.stop()
        }
        expectWeightsError(.invalidPickle, path: "bad.ckpt", containing: "checkpoint holds a list of 0, expected a dict of tensors") {
            _ = try Self.open(memoChain)
        }
    }

    @Test func wideButShallowPicklesAreFast() throws {
        let bytes = try Self.withPickle { p in
            p.proto(2)
            p.emptyDict()
            p.string("state_dict")
            p.emptyList()
            for i in 0 ..< 100_000 { p.int(i); p.append() }
            p.setitem()
            p.stop()
        }
        // Linear work takes well under a second; copying the list on every APPEND would take
        // minutes.
        let start = ContinuousClock.now
        expectWeightsError(.invalidPickle, containing: "expected a dict") { _ = try Self.open(bytes) }
        #expect(ContinuousClock.now - start < .seconds(30))
    }

    @Test(arguments: [
        ("no MARK", [0x80, 0x02, 0x74, 0x2E] as [UInt8]),                       // TUPLE without MARK
        ("stack underflow", [0x80, 0x02, 0x2E]),                               // STOP on empty stack
        ("stack underflow", [0x80, 0x02, 0x7D, 0x28, 0x73, 0x2E]),             // SETITEM below MARK
        ("never stored", [0x80, 0x02, 0x68, 0x05, 0x2E]),                      // BINGET of nothing
        ("odd number", [0x80, 0x02, 0x7D, 0x28, 0x4E, 0x75, 0x2E]),            // SETITEMS with one value
        ("SETITEM on", [0x80, 0x02, 0x4E, 0x4E, 0x4E, 0x73, 0x2E]),            // SETITEM on None
        ("APPEND to", [0x80, 0x02, 0x4E, 0x4E, 0x61, 0x2E]),                   // APPEND to None
        ("not callable", [0x80, 0x02, 0x4E, 0x29, 0x52, 0x2E]),                // REDUCE None()
        ("expected a tuple", [0x80, 0x02, 0x63] + Array("a\nb\n".utf8) + [0x4E, 0x52, 0x2E]),
        ("expected a dict", [0x80, 0x02, 0x4E, 0x2E]),                         // top level None
        ("protocol", [0x80, 0x09, 0x7D, 0x2E]),
    ])
    func malformedPickles(_ fragment: String, _ pickle: [UInt8]) throws {
        var w = TestCheckpointWriter()
        w.storages = []
        expectWeightsError(.invalidPickle, path: "bad.ckpt", containing: fragment) { _ = try Self.open(w.build(pickle: pickle)) }
    }

    @Test(arguments: [
        [0x80, 0x02] as [UInt8],                            // no STOP
        [0x80, 0x02, 0x58, 0xFF, 0xFF, 0xFF, 0x7F, 0x61],   // BINUNICODE longer than the stream
        [0x80, 0x02, 0x8D] + [UInt8](repeating: 0xFF, count: 8), // BINUNICODE8 of 2^64-1 bytes
        [0x80, 0x02, 0x42, 0x00, 0x00, 0x00, 0x80],         // BINBYTES of 2 GB
        [0x80, 0x02, 0x4A, 0x01],                           // BININT cut short
        [0x80, 0x02, 0x63, 0x61],                           // GLOBAL without newline
        [0x80, 0x02, 0x95, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01], // FRAME of 2^56 bytes
    ])
    func truncatedPickles(_ pickle: [UInt8]) throws {
        var w = TestCheckpointWriter()
        w.storages = []
        expectWeightsError(.truncated, path: "bad.ckpt") { _ = try Self.open(w.build(pickle: pickle)) }
    }

    @Test func namesThatAreNotUTF8() throws {
        var w = TestCheckpointWriter()
        w.add("x", try sampleTensor(.f32, [2]))
        var pickle = w.pickle()
        let at = try #require(firstIndex(of: Array("state_dict".utf8), in: pickle))
        pickle[at + 2] = 0xC3 // a lead byte followed by ASCII
        let bytes = w.build(pickle: pickle)
        expectWeightsError(.notUTF8, path: "bad.ckpt", containing: "not valid UTF-8") { _ = try Self.open(bytes) }

        var zip = TestZipWriter()
        zip.add("a/data.pkl", [0x80, 0x02, 0x7D, 0x2E])
        zip.add("a/\u{FFFD}", [])
        var raw = zip.build().bytes
        let name = try #require(firstIndex(of: Array("a/\u{FFFD}".utf8), in: Array(raw[(raw.count - 200)...])))
        raw[raw.count - 200 + name + 2] = 0xFF
        expectWeightsError(.notUTF8, containing: "zip entry name") { _ = try Self.open(raw) }
    }

    // MARK: - Tensors that do not fit their storage

    static func withTensor(storageClass: String = "FloatStorage", storageCount: Int = 8, offset: Int = 0,
                           shape: [Int], strides: [Int], key: String = "0") throws -> [UInt8] {
        var w = TestCheckpointWriter()
        w.storages = [("0", rawBytes(try sampleTensor(.f32, [8])))]
        w.items = [.init(name: "t", storageClass: storageClass, storageKey: key, storageCount: storageCount,
                         offset: offset, shape: shape, strides: strides)]
        return w.build()
    }

    @Test func tensorsOutsideTheirStorage() throws {
        #expect(try Self.open(try Self.withTensor(shape: [2, 4], strides: [4, 1])).count == 1)
        let cases: [(String, [UInt8])] = [
            ("reach element", try Self.withTensor(shape: [3, 3], strides: [3, 1])),
            ("reach element", try Self.withTensor(offset: 7, shape: [2], strides: [1])),
            ("reach element", try Self.withTensor(shape: [2, 2], strides: [1, 8])),
            ("negative", try Self.withTensor(offset: -1, shape: [2], strides: [1])),
            ("negative", try Self.withTensor(shape: [2], strides: [-1])),
            ("negative", try Self.withTensor(shape: [-2], strides: [1])),
            ("overflow", try Self.withTensor(shape: [1 << 40, 1 << 40], strides: [0, 0])),
            ("overflow", try Self.withTensor(shape: [2, 2], strides: [Int.max, 1])),
            ("declares", try Self.withTensor(storageCount: 9, shape: [2], strides: [1])),
            ("declares", try Self.withTensor(storageCount: Int.max, shape: [2], strides: [1])),
            ("missing", try Self.withTensor(shape: [2], strides: [1], key: "7")),
            ("refusing", try Self.withTensor(shape: [1 << 30, 1 << 10], strides: [0, 0])),
        ]
        for (fragment, bytes) in cases {
            expectWeightsError(.invalidTensor, path: "bad.ckpt", containing: fragment) { _ = try Self.open(bytes) }
        }
        // An empty tensor may sit anywhere.
        #expect(try Self.open(try Self.withTensor(offset: 100, shape: [0, 5], strides: [5, 1])).count == 1)
    }

    @Test func unknownStorageTypes() throws {
        let bytes = try Self.withTensor(storageClass: "ComplexFloatStorage", shape: [2], strides: [1])
        expectWeightsError(.unknownStorageType, path: "bad.ckpt", containing: "torch.ComplexFloatStorage") { _ = try Self.open(bytes) }
        let q = try Self.withTensor(storageClass: "QInt8Storage", shape: [2], strides: [1])
        expectWeightsError(.unknownStorageType) { _ = try Self.open(q) }
    }

    @Test func badRebuildArgumentsInTheStateDict() throws {
        let bytes = try Self.withPickle { p in
            p.proto(2)
            p.emptyDict()
            p.string("w")
            p.global("torch._utils", "_rebuild_tensor_v2")
            p.tuple { p in p.string("not a storage"); p.int(0); p.intTuple([1]); p.intTuple([1]) }
            p.reduce()
            p.setitem()
            p.stop()
        }
        expectWeightsError(.invalidTensor, path: "bad.ckpt", containing: "'w'") { _ = try Self.open(bytes) }
    }
}

extension TestCheckpointWriter {
    /// The zip writer filled with this checkpoint's entries, for tests that edit entries.
    func zipWithEntries() -> TestZipWriter {
        var zip = self.zip
        zip.entries = []
        zip.add("\(root)/data.pkl", pickle())
        zip.add("\(root)/byteorder", Array("little".utf8))
        for (key, bytes) in storages { zip.add("\(root)/data/\(key)", bytes) }
        zip.add("\(root)/version", Array("3\n".utf8))
        return zip
    }
}
