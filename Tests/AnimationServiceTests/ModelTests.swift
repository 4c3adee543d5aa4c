import AnimationService
import DiffusionPipeline
import Foundation
import InMemoryLogging
import Logging
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite("Models", .serialized)
struct ModelTests {
    /// A fresh models folder removed after `body`.
    static func withModelsFolder<R>(_ body: (String) throws -> R) throws -> R {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("models-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        return try body(root)
    }

    /// A copy of the demo model under another name.
    static func installDemo(as name: String, in root: String) throws {
        let source = try DemoModels.directory() + "/demo"
        try FileManager.default.copyItem(atPath: source, toPath: root + "/" + name)
    }

    @Test("models are discovered in the folder; the only one is the default, several need a choice")
    func discovery() throws {
        try Self.withModelsFolder { root in
            let empty = ModelRegistry(directory: root)
            #expect(empty.models().isEmpty)
            #expect(throws: ServiceError.self) { try empty.entry(named: nil) }
            #expect((try? empty.entry(named: nil)) == nil)

            try Self.installDemo(as: "alpha", in: root)
            // Things that are not models are ignored.
            try FileManager.default.createDirectory(atPath: root + "/empty-folder", withIntermediateDirectories: true)
            try Data("notes".utf8).write(to: URL(fileURLWithPath: root + "/README.txt"))
            try Data("junk".utf8).write(to: URL(fileURLWithPath: root + "/stray.safetensors"))

            let one = ModelRegistry(directory: root)
            let models = one.models()
            #expect(models.map(\.name) == ["alpha"])
            let alpha = try #require(models.first)
            #expect(alpha.frameWidth == 64 && alpha.frameHeight == 64)
            #expect(alpha.defaultFrames == 16)
            #expect(alpha.defaultMode == .animate)
            #expect(alpha.preset == nil)
            #expect(alpha.sizeBytes > 1_000_000)
            #expect(alpha.weightsPath.hasSuffix("alpha/model.safetensors"))
            #expect(try one.entry(named: nil).name == "alpha")

            // Added while running: seen at the next query. Now there is no implicit default.
            try Self.installDemo(as: "beta", in: root)
            #expect(one.models().map(\.name) == ["alpha", "beta"])
            let ambiguous = serviceError { try one.entry(named: nil) }
            #expect(ambiguous?.kind == .modelNotFound)
            #expect(ambiguous?.message.contains("none is the default") == true)
            #expect(try one.entry(named: "beta").name == "beta")

            let configured = ModelRegistry(directory: root, defaultModel: "beta")
            #expect(try configured.entry(named: nil).name == "beta")
            let missingDefault = ModelRegistry(directory: root, defaultModel: "gamma")
            #expect(serviceError { try missingDefault.entry(named: nil) }?.message.contains("configured default") == true)
        }
    }

    @Test("LoadModel makes a model resident, UnloadModel frees it; both refuse while jobs run")
    func loadAndUnload() throws {
        let fixture = try EngineFixture()
        defer { fixture.close() }
        func load(_ name: String) -> Result<Void, ServiceError>? {
            let done = Completion<Result<Void, ServiceError>>()
            fixture.engine.loadModel(named: name) { done.set($0) }
            return done.wait()
        }
        func unload() -> Result<Void, ServiceError>? {
            let done = Completion<Result<Void, ServiceError>>()
            fixture.engine.unloadModel { done.set($0) }
            return done.wait()
        }
        #expect(load("")?.failure?.kind == .invalidArgument)
        #expect(load("missing")?.failure?.kind == .modelNotFound)
        #expect(fixture.engine.status.loadedModel == "")
        #expect(load("demo")?.failure == nil)
        #expect(fixture.engine.status.loadedModel == "demo")
        #expect(fixture.engine.models().first?.isLoaded == true)
        #expect(fixture.engine.models().first?.isDefault == true)
        // The load is reported through the engine's logger, once, at info level.
        let loadLines = fixture.logged.entries.filter { "\($0.message)".hasPrefix("loaded demo") }
        #expect(loadLines.count == 1 && loadLines.first?.level == .info, "\(fixture.logged.entries)")
        // The state went loading and back to idle, and the change was announced.
        let states = fixture.log.all.compactMap { if case .statusChanged(_, let new) = $0 { new.state } else { nil } }
        #expect(states.contains(.loading))
        #expect(fixture.engine.status.state == .idle)

        // A job now spends no time loading.
        let fd = try TestInput.descriptor(holding: try TestInput.png(width: 64, height: 64))
        defer { close(fd) }
        let job = try fixture.engine.submit(AnimationRequest(owner: "c", options: QueueTests.longOptions(), image: .encoded(fileDescriptor: fd)))
        fixture.log.wait { $0.changes(of: job.id).contains { $0.stage == .denoising } }
        #expect(!fixture.log.changes(of: job.id).contains { $0.stage == .loading })
        #expect(load("demo")?.failure?.kind == .busy)
        #expect(unload()?.failure?.kind == .busy)
        fixture.engine.cancel(job: job.id)
        _ = try fixture.log.waitForCompletion(of: job.id)

        #expect(unload()?.failure == nil)
        #expect(fixture.engine.status.loadedModel == "")
        #expect(unload()?.failure == nil, "unloading with nothing loaded does nothing")
    }

    @Test("a corrupt checkpoint fails its job with ModelLoadFailed and the next job still runs")
    func corruptModel() throws {
        try Self.withModelsFolder { root in
            try Self.installDemo(as: "good", in: root)
            try FileManager.default.createDirectory(atPath: root + "/broken", withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: root + "/good/config.json", toPath: root + "/broken/config.json")
            var generator = SystemRandomNumberGenerator()
            let junk = (0..<4096).map { _ in UInt8.random(in: 0...255, using: &generator) }
            try Data(junk).write(to: URL(fileURLWithPath: root + "/broken/model.safetensors"))

            let fixture = try EngineFixture(modelsDirectory: root)
            defer { fixture.close() }
            #expect(fixture.engine.models().map(\.entry.name) == ["broken", "good"])
            let fd = try TestInput.descriptor(holding: try TestInput.png(width: 64, height: 64))
            defer { close(fd) }
            let bad = try fixture.engine.submit(AnimationRequest(owner: "c", model: "broken", options: EngineFixture.quickOptions(),
                                                                 image: .encoded(fileDescriptor: fd)))
            let failed = try fixture.log.waitForCompletion(of: bad.id)
            #expect(failed.state == .failed)
            #expect(failed.error?.kind == .modelLoadFailed)
            #expect(failed.error?.message.contains("broken") == true)
            #expect(fixture.engine.status.loadedModel == "")
            #expect(fixture.engine.status.state == .idle)
            let good = try fixture.engine.submit(AnimationRequest(owner: "c", model: "good", options: EngineFixture.quickOptions(),
                                                                  image: .encoded(fileDescriptor: fd)))
            #expect(try fixture.log.waitForCompletion(of: good.id).state == .done)
        }
    }
}
