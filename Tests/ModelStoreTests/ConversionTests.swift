import DiffusionPipeline
import Foundation
@testable import ModelStore
import TensorCore
import TensorStorage
import Testing
import TestingSupport
import Weights

/// `--convert`: a memory-mappable bf16/f16 safetensors copy beside an installed f32 `.ckpt`
/// (the published checkpoints' format), checked, recorded, and loaded in preference.
@Suite("model store: converted copies", .serialized)
struct ConversionTests {
    /// Every tensor of `copy` is `original`'s rounded to `dtype`: decoded here independently of
    /// the converter, each value within half a unit in the last place of `dtype`.
    func expectRounded(_ copy: any WeightArchive, from original: any WeightArchive, dtype: DType) throws {
        #expect(copy.names == original.names)
        // Round to nearest is within half a unit in the last place: bf16 keeps 7 stored mantissa
        // bits (half an ulp is 2^-8 relative), f16 10 (2^-11), and below f16's normal range
        // (2^-14) its subnormals step by 2^-24, so half a step (2^-25) absolute. bf16 has f32's
        // exponent range: no absolute term.
        let relative: Float = dtype == .bf16 ? 0x1p-8 : 0x1p-11
        let absolute: Float = dtype == .bf16 ? 0 : 0x1p-25
        var checked = 0
        for name in original.names {
            let a = try original.tensor(named: name)
            let b = try copy.tensor(named: name)
            #expect(b.shape == a.shape, "\(name)")
            guard a.dtype.isFloatingPoint else {
                #expect(b.dtype == a.dtype && Array(b.bytes) == Array(a.bytes), "\(name)")
                continue
            }
            #expect(b.dtype == dtype, "\(name)")
            let source = a.toTensor().scalars
            let rounded: [Float] = withExtendedLifetime(b) {
                (0 ..< b.elementCount).map { i in
                    let bits = b.bytes.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)
                    return dtype == .bf16 ? Float(bitPattern: UInt32(bits) << 16) : Float(Float16(bitPattern: bits))
                }
            }
            for (x, y) in zip(source, rounded) where abs(x - y) > relative * abs(x) + absolute {
                Issue.record("\(name): \(x) became \(y)")
                return
            }
            checked += 1
        }
        #expect(checked > 100)
    }

    @Test("add an f32 .ckpt, convert to bf16: half the size, exact rounding, loaded in preference, recorded")
    func addThenConvert() throws {
        try StoreFixtures.withStore { store, _ in
            let (installed, _) = try store.add(file: StoreFixtures.demoCheckpoint, name: "tiny", check: .configFile(StoreFixtures.demoConfig))
            #expect(installed.dtype == "F32" && installed.verified)
            #expect(installed.weightsPath.hasSuffix("tiny/model.ckpt"))

            let result = try store.convert(name: "tiny", to: .bf16)
            #expect(!result.alreadyPresent)
            #expect(result.path == store.path(of: "tiny") + "/model.safetensors")
            #expect(result.size == StoreFixtures.size(result.path))
            #expect(result.originalSize == StoreFixtures.size(StoreFixtures.demoCheckpoint))
            // f32 → bf16 halves the tensor bytes; the ckpt's zip/pickle overhead is small.
            let fraction = Double(result.saving) / Double(result.originalSize)
            #expect(fraction > 0.45 && fraction < 0.55, "saved \(fraction)")

            let model = result.model
            #expect(model.weightsPath == result.path)
            #expect(model.dtype == "BF16")
            #expect(model.verified)
            #expect(model.record?.converted == InstallRecord.ConvertedCopy(file: "model.safetensors", dtype: "BF16", size: result.size))
            #expect(model.size == result.size + result.originalSize)
            #expect(store.installed() == [model])
            // What the pipeline and the daemon load.
            #expect(try ModelLocation.resolve(model: model.path).weightsPath == result.path)
            try expectRounded(try WeightFile.open(result.path), from: try WeightFile.open(StoreFixtures.demoCheckpoint), dtype: .bf16)
            // No temporary files left beside it.
            let files = try FileManager.default.contentsOfDirectory(atPath: model.path).sorted()
            #expect(files == ["config.json", "installed.json", "model.ckpt", "model.safetensors"])

            // Asked again: nothing to do. Another precision replaces the copy.
            #expect(try store.convert(name: "tiny", to: .bf16).alreadyPresent)
            let f16 = try store.convert(name: "tiny", to: .f16)
            #expect(!f16.alreadyPresent && f16.model.dtype == "F16" && f16.model.verified)
            try expectRounded(try WeightFile.open(f16.path), from: try WeightFile.open(StoreFixtures.demoCheckpoint), dtype: .f16)

            // A copy changed by hand is no longer vouched for.
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: f16.path))
            try handle.seekToEnd()
            try handle.write(contentsOf: Data([0]))
            try handle.close()
            #expect(store.model(named: "tiny")?.verified == false)
        }
    }

    @Test("fetch an f32 .ckpt from the server, then convert: the record keeps both files")
    func fetchThenConvert() throws {
        try StoreFixtures.withStore { store, root in
            let server = try StoreFixtures.server(root, serving: StoreFixtures.demoCheckpoint)
            let model = try store.fetch(try StoreFixtures.request(server, "ok"))
            #expect(model.record?.file == "model.ckpt" && model.dtype == "F32")
            #expect(model.record?.sha256 == server.fileSHA256)
            let result = try store.convert(name: "tiny", to: .f16)
            #expect(result.model.verified && result.model.dtype == "F16")
            let record = try #require(result.model.record)
            #expect(record.file == "model.ckpt" && record.sha256 == server.fileSHA256)
            #expect(record.converted?.dtype == "F16")
        }
    }

    @Test("what cannot be converted is refused clearly and nothing is written")
    func refusals() throws {
        try StoreFixtures.withStore { store, _ in
            _ = #expect(throws: ModelStoreError.notInstalled(name: "nothing")) { try store.convert(name: "nothing", to: .bf16) }
            // Installed from a safetensors file: already mappable.
            _ = try store.add(file: StoreFixtures.demoWeights, name: "st", check: .configFile(StoreFixtures.demoConfig))
            let already = #expect(throws: ModelStoreError.self) { try store.convert(name: "st", to: .bf16) }
            #expect(already?.description.contains("already a safetensors file") == true)
            // A folder put there by hand has no record to keep the copy in.
            try DemoModel.write(to: store.path(of: "hand"), frameSize: 32)
            let hand = #expect(throws: ModelStoreError.self) { try store.convert(name: "hand", to: .bf16) }
            #expect(hand?.description.contains("dynamicrafter convert") == true)
            #expect(try FileManager.default.contentsOfDirectory(atPath: store.path(of: "hand")).sorted() == ["config.json", "model.safetensors"])
            _ = #expect(throws: ModelStoreError.self) { try store.convert(name: "st", to: .i64) }
        }
    }
}
