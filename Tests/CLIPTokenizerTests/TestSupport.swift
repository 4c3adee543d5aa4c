import Foundation
import Testing

/// Locations of test inputs.
enum TokenizerTestFiles {
    /// A fixture file copied into the test bundle.
    static func fixture(_ name: String) throws -> String {
        let url = try #require(Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: nil),
                               "fixture \(name) missing from the test bundle")
        return url.path
    }

    /// A fresh directory removed when `body` returns.
    @discardableResult
    static func withTemporaryDirectory<R>(_ body: (URL) throws -> R) throws -> R {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("clip-tokenizer-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: url) }
        return try body(url)
    }
}

extension String {
    /// The code points, for comparisons that must not use canonical equivalence.
    var scalarValues: [UInt32] { unicodeScalars.map(\.value) }
}
