import TestingSupport
import DBusKit
import Foundation
import Testing

extension DaemonTests {
    @Test("option 'sampler': a solver job completes step by step; unknown names and eta with a solver are refused")
    func samplerOption() async throws {
        try await DaemonBus.with { bus, connection in
            let signals = try await JobSignals.subscribe(connection)
            let png = try Fixtures.png(width: 64, height: 64)
            let prefix = DaemonBus.errorPrefix

            var options = quickJob()
            options["sampler"] = .string("unipc")
            let job = try await connection.animate(imagePath: png, options)
            let done = try await signals.waitForCompletion(of: job)
            #expect(done.success, "\(done.errorName): \(done.message)")
            #expect(signals.values(of: "Step", at: job) == (1...4).map { DBusValue.uint32(UInt32($0)) })

            var unknown = quickJob()
            unknown["sampler"] = .string("euler")
            let refused = await dbusError { _ = try await connection.animate(imagePath: png, unknown) }
            #expect(refused?.name == prefix + "InvalidArgument")
            #expect(refused?.message.contains("ddim, dpmpp-2m, unipc") == true)

            var withEta = quickJob()
            withEta["sampler"] = .string("dpmpp-2m")
            withEta["eta"] = .double(0.5)
            let eta = await dbusError { _ = try await connection.animate(imagePath: png, withEta) }
            #expect(eta?.name == prefix + "InvalidArgument")
            #expect(eta?.message.contains("eta") == true && eta?.message.contains("ddim") == true)
        }
    }
}
