import Foundation
import Imaging
import TensorCore
import TensorStorage
import TestingSupport

/// A test-only safetensors reader for the fixtures in `Fixtures/` (the `Weights` module has the
/// real loader; the tensor-core tests must not depend on it).
struct Fixture: Sendable {
    struct Entry: Sendable {
        let dtype: String
        let shape: [Int]
        let range: Range<Int>
    }

    let entries: [String: Entry]
    let data: Data

    enum Failure: Error, CustomStringConvertible {
        case missingResource(String)
        case malformed(String)
        case missingTensor(String)

        var description: String {
            switch self {
            case .missingResource(let m): "fixture file not found: \(m)"
            case .malformed(let m): "malformed fixture: \(m)"
            case .missingTensor(let m): "fixture has no tensor \(m)"
            }
        }
    }

    /// Loads `Fixtures/<name>.safetensors` from the test bundle.
    init(_ name: String) throws {
        guard let url = Bundle.module.url(forResource: name, withExtension: "safetensors", subdirectory: "Fixtures") else {
            throw Failure.missingResource("Fixtures/\(name).safetensors")
        }
        let data = try Data(contentsOf: url)
        guard data.count >= 8 else { throw Failure.malformed("\(name): shorter than its header length") }
        let headerLength = data.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        guard headerLength <= data.count - 8,
              let json = try JSONSerialization.jsonObject(with: data.subdata(in: 8 ..< 8 + headerLength)) as? [String: Any] else {
            throw Failure.malformed("\(name): bad header")
        }
        var entries: [String: Entry] = [:]
        for (key, value) in json where key != "__metadata__" {
            guard let info = value as? [String: Any], let dtype = info["dtype"] as? String,
                  let shape = info["shape"] as? [Int], let offsets = info["data_offsets"] as? [Int], offsets.count == 2 else {
                throw Failure.malformed("\(name): entry \(key)")
            }
            let lo = 8 + headerLength + offsets[0], hi = 8 + headerLength + offsets[1]
            guard lo <= hi, hi <= data.count else { throw Failure.malformed("\(name): \(key) outside the file") }
            entries[key] = Entry(dtype: dtype, shape: shape, range: lo ..< hi)
        }
        self.entries = entries
        self.data = data
    }

    private func entry(_ name: String) throws -> Entry {
        guard let e = entries[name] else { throw Failure.missingTensor(name) }
        return e
    }

    /// A float tensor (F32 stored; F64 rounded).
    func tensor(_ name: String) throws -> Tensor {
        let e = try entry(name)
        let bytes = data.subdata(in: e.range)
        let values: [Float] = bytes.withUnsafeBytes { raw in
            switch e.dtype {
            case "F32": (0 ..< raw.count / 4).map { raw.loadUnaligned(fromByteOffset: 4 * $0, as: Float.self) }
            case "F64": (0 ..< raw.count / 8).map { Float(raw.loadUnaligned(fromByteOffset: 8 * $0, as: Double.self)) }
            default: []
            }
        }
        guard e.dtype == "F32" || e.dtype == "F64" else { throw Failure.malformed("\(name) is \(e.dtype), not a float") }
        return try Tensor(shape: e.shape, scalars: values)
    }

    /// Raw bytes of a U8 tensor.
    func bytes(_ name: String) throws -> (shape: [Int], values: [UInt8]) {
        let e = try entry(name)
        guard e.dtype == "U8" else { throw Failure.malformed("\(name) is \(e.dtype), not U8") }
        return (e.shape, [UInt8](data.subdata(in: e.range)))
    }

    /// Values of an I64 tensor.
    func integers(_ name: String) throws -> [Int] {
        let e = try entry(name)
        guard e.dtype == "I64" else { throw Failure.malformed("\(name) is \(e.dtype), not I64") }
        return data.subdata(in: e.range).withUnsafeBytes { raw in
            (0 ..< raw.count / 8).map { Int(raw.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self)) }
        }
    }

    /// A U8 `[H, W, 3]` tensor as an image.
    func image(_ name: String) throws -> RGBImage {
        let (shape, values) = try bytes(name)
        guard shape.count == 3, shape[2] == 3 else { throw Failure.malformed("\(name) is not [H, W, 3]") }
        return try RGBImage(width: shape[1], height: shape[0], pixels: values)
    }
}

/// Comparison helpers shared by the kernel tests.
enum Compare {
    /// max |a − b| / max |b|: the relative error measure of the reference README (§11).
    static func relativeError(_ a: Tensor, _ b: Tensor) -> Float {
        TestingSupport.relativeError(a, b)
    }

    /// max |a − b|.
    static func maxAbsError(_ a: Tensor, _ b: Tensor) -> Float {
        guard a.shape == b.shape else { return .infinity }
        return zip(a.scalars, b.scalars).reduce(0) { max($0, abs($1.0 - $1.1)) }
    }

    /// Seeded uniform values in [lo, hi) (SplitMix64), so the tests are reproducible.
    static func random(_ shape: [Int], seed: UInt64, in range: ClosedRange<Float> = -1 ... 1) -> Tensor {
        var state = seed
        let n = shape.reduce(1, *)
        let values = (0 ..< n).map { _ -> Float in
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            z ^= z >> 31
            let u = Float(z >> 40) / Float(1 << 24)
            return range.lowerBound + (range.upperBound - range.lowerBound) * u
        }
        return try! Tensor(shape: shape, scalars: values)
    }
}
