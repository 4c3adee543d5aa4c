import Foundation
import TensorStorage
import TestingSupport
import Testing
import Weights

/// Locations of test inputs.
enum TestFiles {
    /// A fixture file copied into the test bundle.
    static func fixture(_ name: String) throws -> String {
        let url = try #require(Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: nil),
                               "fixture \(name) missing from the test bundle")
        return url.path
    }

    static func fixtureBytes(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: try fixture(name))))
    }

    /// The package root, found from this file's location.
    static var packageRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// The shared reference goldens, when this checkout has them next to it (they are not part
    /// of the repository, so tests that need them are skipped elsewhere).
    static let goldenDirectory: String? = {
        let candidates = [
            "/work/shared/reference/golden",
            packageRoot.appendingPathComponent("../shared/reference/golden").standardized.path,
        ]
        return candidates.first { FileManager.default.fileExists(atPath: $0 + "/tiny-256/weights.safetensors") }
    }()

    /// A fresh directory removed when `body` returns.
    static func withTemporaryDirectory<R>(_ body: (String) throws -> R) throws -> R {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("weights-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: url) }
        return try body(url.path)
    }

    static func write(_ bytes: [UInt8], to path: String) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }
}

/// Expects `body` to throw a `WeightsError` of `kind` whose message names `path`; returns it.
@discardableResult
func expectWeightsError(_ kind: WeightsError.Kind, path: String? = nil, containing fragment: String? = nil,
                        sourceLocation: SourceLocation = #_sourceLocation,
                        _ body: () throws -> Void) -> WeightsError? {
    do {
        try body()
        Issue.record("expected a \(kind) error, but nothing was thrown", sourceLocation: sourceLocation)
        return nil
    } catch let error as WeightsError {
        #expect(error.kind == kind, "got \(error.kind): \(error)", sourceLocation: sourceLocation)
        if let path {
            #expect(error.path == path && error.description.hasPrefix(path), "\(error)", sourceLocation: sourceLocation)
        }
        if let fragment {
            #expect(error.message.contains(fragment), "\(error)", sourceLocation: sourceLocation)
        }
        return error
    } catch {
        Issue.record("expected WeightsError.\(kind), got \(type(of: error)): \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

/// A copy of a tensor's bytes. `TensorData.bytes` does not own its memory, so it is only read
/// while the tensor is certainly alive (here: a parameter).
func rawBytes(_ t: TensorData) -> [UInt8] {
    withExtendedLifetime(t) { Array(t.bytes) }
}

func sameBytes(_ a: TensorData, _ b: TensorData) -> Bool {
    withExtendedLifetime((a, b)) { a.bytes.elementsEqual(b.bytes) }
}

/// Wraps bytes as storage for the in-memory readers.
func storage(_ bytes: [UInt8]) -> ByteStorage { ByteStorage(bytes) }

/// Every tensor of `a` equals the one of the same name in `b`: names, dtypes, shapes, bytes.
func expectSameTensors(_ a: any WeightArchive, _ b: any WeightArchive, rename: (String) -> String = { $0 },
                       sourceLocation: SourceLocation = #_sourceLocation) throws {
    #expect(a.names.map(rename).sorted() == b.names.sorted(), sourceLocation: sourceLocation)
    for name in a.names {
        let other = rename(name)
        guard b.contains(other) else { continue }
        #expect(a.info(named: name) == b.info(named: other), "\(name)", sourceLocation: sourceLocation)
        let x = try a.tensor(named: name)
        let y = try b.tensor(named: other)
        #expect(x.dtype == y.dtype && x.shape == y.shape, "\(name)", sourceLocation: sourceLocation)
        #expect(sameBytes(x, y), "bytes of \(name) differ", sourceLocation: sourceLocation)
    }
}

typealias SplitMix64 = TestRandom

/// A small tensor with distinct values, in any dtype.
func sampleTensor(_ dtype: DType, _ shape: [Int], seed: Int = 0) throws -> TensorData {
    let n = shape.reduce(1, *)
    let storage = ByteStorage(count: n * dtype.byteSize) { dst in
        for i in 0 ..< n {
            let v = Float(i + seed) * 0.25 - 3
            switch dtype {
            case .f32: dst.storeBytes(of: v.bitPattern, toByteOffset: 4 * i, as: UInt32.self)
            case .f64: dst.storeBytes(of: Double(v).bitPattern, toByteOffset: 8 * i, as: UInt64.self)
            case .f16: dst.storeBytes(of: HalfConversion.f16(from: v), toByteOffset: 2 * i, as: UInt16.self)
            case .bf16: dst.storeBytes(of: HalfConversion.bf16(from: v), toByteOffset: 2 * i, as: UInt16.self)
            case .i64: dst.storeBytes(of: Int64(i + seed) - 5, toByteOffset: 8 * i, as: Int64.self)
            case .i32: dst.storeBytes(of: Int32(i + seed) - 5, toByteOffset: 4 * i, as: Int32.self)
            case .i16: dst.storeBytes(of: Int16(i + seed) - 5, toByteOffset: 2 * i, as: Int16.self)
            case .i8: dst.storeBytes(of: Int8(truncatingIfNeeded: i + seed - 5), toByteOffset: i, as: Int8.self)
            case .u8: dst[i] = UInt8(truncatingIfNeeded: i + seed)
            case .bool: dst[i] = UInt8((i + seed) % 2)
            }
        }
    }
    return try TensorData(dtype: dtype, shape: shape, storage: storage)
}
