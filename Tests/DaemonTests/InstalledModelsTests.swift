import DBusKit
import Foundation
import Testing
import TestingSupport

/// GetModels reports what `dynamicrafter models list` shows: models installed by
/// `dynamicrafter models add` are verified, their converted copy is what loads, and folders
/// put there by hand are listed unverified.
@Suite("dynamicrafterd: installed models", .serialized)
struct InstalledModelsTests {
    @Test("GetModels: verified and dtype as the store records them; the converted copy loads and animates")
    func verifiedAndConverted() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("daemon-installed-\(UUID().uuidString)").path
        let models = root + "/models"
        try FileManager.default.createDirectory(atPath: models, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let demo = try Fixtures.modelsDirectory() + "/demo"
        // The demo weights in the published checkpoints' format, installed with a bf16 copy.
        try TestCheckpointWriter.write(weightsAt: demo + "/model.safetensors", to: root + "/model.ckpt")
        let added = try Command(try Executables.cli(), ["models", "add", root + "/model.ckpt", "--config", demo + "/config.json",
                                                        "--name", "tiny", "--convert", "bf16", "--models-dir", models]).run()
        #expect(added.status == 0, "\(added.stderr)")
        // And a folder copied by hand.
        try FileManager.default.copyItem(atPath: demo, toPath: models + "/hand")

        try await DaemonBus.with(arguments: ["--model", "tiny"], modelsDirectory: models) { _, connection in
            let reply = try await connection.manager("GetModels")
            let list = try #require(reply.first?.arrayElements)
            var facts: [String: [String: DBusValue]] = [:]
            for element in list {
                let fields = try #require(element.structureFields)
                facts[try #require(fields.first?.stringValue)] = try #require(fields.last?.vardictValue)
            }
            #expect(facts.keys.sorted() == ["hand", "tiny"])
            let tiny = try #require(facts["tiny"])
            #expect(tiny["verified"] == .bool(true))
            #expect(tiny["dtype"] == .string("BF16"))
            #expect(tiny["path"]?.stringValue == models + "/tiny/model.safetensors")
            #expect(tiny["default"] == .bool(true))
            let hand = try #require(facts["hand"])
            #expect(hand["verified"] == .bool(false))
            #expect(hand["dtype"] == .string("F16"))

            // The bf16 copy is what the job loads, and it animates.
            let signals = try await JobSignals.subscribe(connection)
            let job = try await connection.animate(imagePath: try Fixtures.png(width: 64, height: 64), quickJob(frames: 2, steps: 1))
            let done = try await signals.waitForCompletion(of: job)
            #expect(done.success, "\(done.message)")
            #expect(try await connection.managerProperty("LoadedModel") == .string("tiny"))
        }

        // A weights file changed behind the store's back is no longer vouched for.
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: models + "/tiny/model.safetensors"))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data([0]))
        try handle.close()
        try await DaemonBus.with(modelsDirectory: models) { _, connection in
            let reply = try await connection.manager("GetModels")
            let tiny = try #require(reply.first?.arrayElements?.first { $0.structureFields?.first?.stringValue == "tiny" })
            #expect(tiny.structureFields?.last?.vardictValue?["verified"] == .bool(false))
        }
    }
}
