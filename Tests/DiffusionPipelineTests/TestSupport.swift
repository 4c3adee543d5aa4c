import Foundation
import TensorCore
import TensorStorage
import Testing
import TestingSupport
import Weights

/// A fixture file of this test bundle, or a golden file of the shared reference set, opened
/// with the project's safetensors reader.
struct Fixture {
    let archive: any WeightArchive

    init(_ name: String) throws {
        let url = try #require(Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: nil),
                               "fixture \(name) missing from the test bundle")
        archive = try WeightFile.open(url.path)
    }

    /// A golden file of a tiny case in Tests/Fixtures/reference (e.g. its `sampling.safetensors`).
    init(reference caseName: String, _ file: String) throws {
        archive = try ReferenceFixtures.golden(caseName, file)
    }

    func tensor(_ name: String) throws -> Tensor { try archive.tensor(named: name).toTensor() }

    func floats(_ name: String) throws -> [Float] {
        let data = try archive.tensor(named: name)
        try #require(data.dtype == .f32, "\(name) is \(data.dtype), expected f32")
        return (0..<data.elementCount).map { data.bytes.loadUnaligned(fromByteOffset: 4 * $0, as: Float.self) }
    }

    func doubles(_ name: String) throws -> [Double] {
        let data = try archive.tensor(named: name)
        try #require(data.dtype == .f64, "\(name) is \(data.dtype), expected f64")
        return (0..<data.elementCount).map { data.bytes.loadUnaligned(fromByteOffset: 8 * $0, as: Double.self) }
    }

    func ints(_ name: String) throws -> [Int] {
        let data = try archive.tensor(named: name)
        try #require(data.dtype == .i64, "\(name) is \(data.dtype), expected i64")
        return (0..<data.elementCount).map { Int(data.bytes.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self)) }
    }

    /// Slice `i` of the leading axis of a stacked tensor ([S, rest…] → rest).
    func slice(_ name: String, _ i: Int) throws -> Tensor {
        let all = try tensor(name)
        let rest = Array(all.shape.dropFirst())
        let n = rest.reduce(1, *)
        let values = Array(all.scalars[(i * n)..<((i + 1) * n)])
        return try Tensor(shape: rest, scalars: values)
    }
}

/// Distance in units in the last place between two floats of the same sign (0 when equal).
func ulpDistance(_ a: Float, _ b: Float) -> Int {
    if a == b { return 0 }
    if a.isNaN || b.isNaN || a.sign != b.sign { return Int.max }
    return abs(Int(a.bitPattern) - Int(b.bitPattern))
}

/// max |a − b| / max |b|, the relative error measure of the reference README (§11).
func relativeError(_ a: Tensor, _ b: Tensor) -> Double {
    precondition(a.shape == b.shape, "\(a.shape) vs \(b.shape)")
    let x = a.scalars, y = b.scalars
    var maxDiff = 0.0, maxRef = 0.0
    for i in x.indices {
        maxDiff = max(maxDiff, abs(Double(x[i]) - Double(y[i])))
        maxRef = max(maxRef, abs(Double(y[i])))
    }
    return maxRef == 0 ? maxDiff : maxDiff / maxRef
}

/// Number of elements that differ at all.
func mismatches(_ a: Tensor, _ b: Tensor) -> Int {
    zip(a.scalars, b.scalars).filter { $0 != $1 }.count
}
