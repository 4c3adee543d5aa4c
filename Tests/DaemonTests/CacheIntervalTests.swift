import TestingSupport
import DBusKit
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

extension DaemonTests {
    @Test("cache-interval: a cached job completes with other frames than the uncached one; bad values are InvalidArgument")
    func cacheInterval() async throws {
        try await DaemonBus.with { bus, connection in
            let signals = try await JobSignals.subscribe(connection)
            let png = try Fixtures.png(width: 64, height: 64)
            func options(_ extra: [String: DBusValue]) -> [String: DBusValue] { quickJob().merging(extra) { $1 } }
            func frames(_ extra: [String: DBusValue]) async throws -> [UInt8] {
                let job = try await connection.animate(imagePath: png, options(extra))
                let done = try await signals.waitForCompletion(of: job)
                #expect(done.success, "\(done.message)")
                let reply = try await connection.job(job, "TakeFrames")
                let fd = try #require(reply.first?.unixFDValue?.take())
                defer { close(fd) }
                return Descriptors.readAll(fd)
            }
            let plain = try await frames([:])
            #expect(try await frames(["cache-interval": .uint32(1)]) == plain)
            let cached = try await frames(["cache-interval": .uint32(3)])
            #expect(cached.count == plain.count && cached != plain)

            let prefix = DaemonBus.errorPrefix
            let tooLarge = await dbusError { _ = try await connection.animate(imagePath: png, options(["cache-interval": .uint32(11)])) }
            #expect(tooLarge?.name == prefix + "InvalidArgument")
            #expect(tooLarge?.message.contains("cache-interval 11: allowed 0…10") == true, "\(String(describing: tooLarge))")
            let wrongType = await dbusError { _ = try await connection.animate(imagePath: png, options(["cache-interval": .int32(3)])) }
            #expect(wrongType?.name == prefix + "InvalidArgument")
            #expect(wrongType?.message.contains("'cache-interval' must be of type u") == true)
            _ = bus
        }
    }
}
