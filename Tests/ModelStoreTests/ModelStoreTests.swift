import DiffusionPipeline
import DynamiCrafterModel
import Foundation
@testable import ModelStore
import Testing
import TestingSupport

/// Fetch, add, list and remove against a real HTTP server on 127.0.0.1 serving a tiny model
/// (the demo model at 32×32 frames: the real architecture's keys at toy widths).
@Suite("model store", .serialized)
struct ModelStoreTests {
    static var demoWeights: String { StoreFixtures.demoWeights }
    static var demoConfig: String { StoreFixtures.demoConfig }

    func withStore<R>(_ body: (ModelStore, String) throws -> R) throws -> R { try StoreFixtures.withStore(body) }

    func server(_ root: String) throws -> TestServer { try StoreFixtures.server(root) }

    func request(_ server: TestServer, _ mode: String, name: String = "tiny") throws -> FetchRequest {
        try StoreFixtures.request(server, mode, name: name)
    }

    func contents(_ store: ModelStore) -> [String] { StoreFixtures.contents(store) }

    @Test("a complete fetch follows the redirect, verifies the published hash and the keys, and installs")
    func completeFetch() throws {
        try withStore { store, root in
            let server = try server(root)
            let model = try store.fetch(try request(server, "ok"))
            #expect(model.name == "tiny")
            #expect(model.verified)
            let record = try #require(model.record)
            #expect(record.sha256 == server.fileSHA256)
            #expect(record.publishedSHA256 == server.fileSHA256)
            #expect(record.size == Int64(server.fileSize))
            #expect(record.dtype == "F16")
            #expect(record.file == "model.safetensors")
            #expect(contents(store) == ["tiny"])
            #expect(try TestServer.sha256sum(model.weightsPath) == server.fileSHA256)
            // The installed folder is a model the pipeline can load.
            let location = try ModelLocation.resolve(model: model.path)
            #expect(location.weightsPath == model.weightsPath)
            #expect(location.configSource.hasSuffix("config.json"))
            #expect(store.installed() == [model])
            let log = try server.requests()
            #expect(log.map(\.status) == [302, 200])
            #expect(log.allSatisfy { $0.range == nil })
        }
    }

    @Test("the hash in a plain ETag (no redirect) is used too")
    func directETag() throws {
        try withStore { store, root in
            let server = try server(root)
            let model = try store.fetch(try request(server, "direct"))
            #expect(model.record?.publishedSHA256 == server.fileSHA256)
            #expect(try server.requests().map(\.status) == [200])
        }
    }

    @Test("a dropped connection keeps the partial file; the next fetch resumes with Range")
    func resume() throws {
        try withStore { store, root in
            let server = try server(root)
            let first = #expect(throws: ModelStoreError.self) { try store.fetch(try request(server, "drop")) }
            guard case let .interrupted(_, received, _) = first else {
                Issue.record("expected an interruption, got \(String(describing: first))")
                return
            }
            #expect(received > 0 && received < Int64(server.fileSize))
            // Nothing looks installed; the partial download is hidden.
            #expect(store.installed().isEmpty)
            #expect(contents(store) == [".tiny.partial", ".tiny.partial.json"])

            let model = try store.fetch(try request(server, "drop"))
            #expect(model.verified)
            #expect(try TestServer.sha256sum(model.weightsPath) == server.fileSHA256)
            let log = try server.requests()
            let ranged = log.filter { $0.range != nil && $0.status == 206 }
            #expect(ranged.count == 1)
            #expect(ranged.first?.range == "bytes=\(received)-")
            let served = log.reduce(0) { $0 + $1.bytes }
            #expect(served < 2 * server.fileSize)
            #expect(served == server.fileSize)
            #expect(contents(store) == ["tiny"])
        }
    }

    /// Plants a partial download of `url` whose first bytes are garbage.
    func plantPartial(_ store: ModelStore, name: String, url: URL, bytes: Int, published: String?) throws {
        try FileManager.default.createDirectory(atPath: store.directory, withIntermediateDirectories: true)
        try Data(repeating: 0xAB, count: bytes).write(to: URL(fileURLWithPath: store.partialPath(of: name)))
        let sidecar = Downloader.Sidecar(url: url.absoluteString, publishedSHA256: published)
        try JSONEncoder().encode(sidecar).write(to: URL(fileURLWithPath: store.sidecarPath(of: name)))
    }

    @Test("a server that ignores Range (200) makes the partial file start over")
    func rangeIgnored() throws {
        try withStore { store, root in
            let server = try server(root)
            let req = try request(server, "norange")
            try plantPartial(store, name: "tiny", url: req.url, bytes: 1000, published: server.fileSHA256)
            let model = try store.fetch(req)
            #expect(try TestServer.sha256sum(model.weightsPath) == server.fileSHA256)
            let served = try server.requests().filter { $0.status == 200 }
            #expect(served.count == 1)
            #expect(served.first?.range == "bytes=1000-")
            #expect(served.first?.bytes == server.fileSize)
        }
    }

    @Test("a partial file of a since-changed file (another published hash) is not continued")
    func changedUpstream() throws {
        try withStore { store, root in
            let server = try server(root)
            let req = try request(server, "ok")
            try plantPartial(store, name: "tiny", url: req.url, bytes: 1000, published: String(repeating: "1", count: 64))
            let model = try store.fetch(req)
            #expect(try TestServer.sha256sum(model.weightsPath) == server.fileSHA256)
            let log = try server.requests().filter { $0.status != 302 }
            #expect(log.first?.range == "bytes=1000-")
            #expect(log.last?.range == nil)
            #expect(log.last?.bytes == server.fileSize)
        }
    }

    @Test("a published hash that does not match is refused and nothing is left behind")
    func lyingHash() throws {
        try withStore { store, root in
            let server = try server(root)
            let error = #expect(throws: ModelStoreError.self) { try store.fetch(try request(server, "lie")) }
            guard case let .hashMismatch(expected, actual) = error else {
                Issue.record("expected a hash mismatch, got \(String(describing: error))")
                return
            }
            #expect(expected == String(repeating: "0", count: 64))
            #expect(actual == server.fileSHA256)
            #expect(error?.description.contains("deleted") == true)
            #expect(contents(store).isEmpty)
            #expect(store.installed().isEmpty)
        }
    }

    @Test("no published hash: refused unless --sha256 gives it")
    func noHash() throws {
        try withStore { store, root in
            let server = try server(root)
            let error = #expect(throws: ModelStoreError.self) { try store.fetch(try request(server, "nohash")) }
            #expect(error == .noPublishedHash(url: try request(server, "nohash").url.absoluteString))
            #expect(contents(store).isEmpty)
            var pinned = try request(server, "nohash")
            pinned.expectedSHA256 = String(repeating: "2", count: 64)
            _ = #expect(throws: ModelStoreError.hashMismatch(expected: pinned.expectedSHA256!, actual: server.fileSHA256)) {
                try store.fetch(pinned)
            }
            pinned.expectedSHA256 = server.fileSHA256.uppercased()
            #expect(try store.fetch(pinned).verified)
        }
    }

    @Test("404 and 500 are clear errors and leave nothing")
    func httpErrors() throws {
        try withStore { store, root in
            let server = try server(root)
            for status in [404, 500] {
                let req = try request(server, String(status))
                let error = #expect(throws: ModelStoreError.self) { try store.fetch(req) }
                #expect(error == .httpStatus(url: req.url.absoluteString, status: status))
                #expect(error?.description.contains("HTTP \(status)") == true)
                #expect(contents(store).isEmpty)
            }
            #expect(ModelStoreError.httpStatus(url: "u", status: 404).description.contains("not found"))
        }
    }

    @Test("an unreachable server names the manual alternative")
    func unreachable() throws {
        try withStore { store, _ in
            // Port 1 on loopback: nothing listens there, the connection is refused at once.
            let url = try ModelSource.url(preset: "256", baseURL: "http://127.0.0.1:1")
            let error = #expect(throws: ModelStoreError.self) {
                try store.fetch(FetchRequest(name: "256", url: url, check: .preset(Preset.p256)))
            }
            guard case let .unreachable(_, _, hint) = error else {
                Issue.record("expected unreachable, got \(String(describing: error))")
                return
            }
            #expect(hint == "dynamicrafter models add FILE --preset 256 --name 256")
            #expect(error?.description.contains("HTTPS_PROXY") == true)
            #expect(store.installed().isEmpty)
        }
    }

    @Test("a file whose keys do not fit the preset is refused after download, at the preset's URL")
    func wrongModel() throws {
        try withStore { store, root in
            let server = try server(root)
            let url = try ModelSource.url(preset: "256", baseURL: server.base("ok") + "/")
            #expect(url.path == "/ok/Doubiiu/DynamiCrafter/resolve/main/model.ckpt")
            let error = #expect(throws: ModelStoreError.self) {
                try store.fetch(FetchRequest(name: "256", url: url, check: .preset(Preset.p256)))
            }
            guard case let .notThisModel(report) = error else {
                Issue.record("expected a key mismatch, got \(String(describing: error))")
                return
            }
            #expect(report.contains("missing"))
            #expect(contents(store).isEmpty)
        }
    }

    @Test("add links and verifies; list; a second add of the name is refused; remove")
    func addListRemove() throws {
        try withStore { store, root in
            // A copy in the same filesystem as the store: hard-linked.
            let file = root + "/weights.safetensors"
            try FileManager.default.copyItem(atPath: Self.demoWeights, toPath: file)
            let (model, placement) = try store.add(file: file, name: "demo", check: .configFile(Self.demoConfig))
            #expect(placement == .linked)
            #expect(model.verified && model.preset == nil && model.dtype == "F16")
            #expect(model.record?.sha256 == (try TestServer.sha256sum(file)))
            #expect(model.record?.source == file)
            #expect(FileManager.default.fileExists(atPath: model.path + "/config.json"))
            #expect(try ModelLocation.resolve(model: model.path).weightsPath == model.weightsPath)
            #expect(store.installed().map(\.name) == ["demo"])
            _ = #expect(throws: ModelStoreError.alreadyInstalled(name: "demo", path: store.path(of: "demo"))) {
                try store.add(file: file, name: "demo", check: .configFile(Self.demoConfig))
            }
            // The wrong preset: refused with the key report, nothing installed.
            let error = #expect(throws: ModelStoreError.self) { try store.add(file: file, name: "256", check: .preset(Preset.p256)) }
            if case .notThisModel = error {} else { Issue.record("expected a key mismatch, got \(String(describing: error))") }
            #expect(store.model(named: "256") == nil)

            let removed = try store.remove(name: "demo")
            #expect(removed?.name == "demo")
            #expect(store.installed().isEmpty)
            #expect(contents(store).isEmpty)
            #expect(FileManager.default.fileExists(atPath: file))
            _ = #expect(throws: ModelStoreError.notInstalled(name: "demo")) { try store.remove(name: "demo") }
            _ = #expect(throws: ModelStoreError.invalidName("../x")) { try store.remove(name: "../x") }
        }
    }

    @Test("folders put there by hand are listed as unverified; a preset-named folder shows its preset")
    func unrecordedFolders() throws {
        try withStore { store, _ in
            try DemoModel.write(to: store.path(of: "hand"), frameSize: 32)
            try FileManager.default.createDirectory(atPath: store.path(of: "512"), withIntermediateDirectories: true)
            try FileManager.default.linkItem(atPath: Self.demoWeights, toPath: store.path(of: "512") + "/model.ckpt")
            try FileManager.default.createDirectory(atPath: store.path(of: "empty"), withIntermediateDirectories: true)
            let models = store.installed()
            #expect(models.map(\.name) == ["512", "hand"])
            #expect(models.allSatisfy { !$0.verified && $0.record == nil })
            #expect(models.first?.preset == "512")
            #expect(models.last?.dtype == "F16")
        }
    }

    @Test("the default directory follows XDG_DATA_HOME, else HOME")
    func defaultDirectory() {
        #expect(ModelStore.defaultDirectory(environment: ["XDG_DATA_HOME": "/x/data", "HOME": "/h"]) == "/x/data/dynamicrafter/models")
        #expect(ModelStore.defaultDirectory(environment: ["XDG_DATA_HOME": "relative", "HOME": "/h"]) == "/h/.local/share/dynamicrafter/models")
        #expect(ModelStore.defaultDirectory(environment: ["HOME": "/h"]) == "/h/.local/share/dynamicrafter/models")
        #expect(ModelSource.baseURL(explicit: nil, environment: ["HF_ENDPOINT": "https://mirror"]) == "https://mirror")
        #expect(ModelSource.baseURL(explicit: "https://b", environment: ["HF_ENDPOINT": "https://mirror"]) == "https://b")
        #expect(ModelSource.baseURL(explicit: nil, environment: [:]) == "https://huggingface.co")
        #expect(Downloader.sha256(fromETag: "W/\"" + String(repeating: "A", count: 64) + "\"") == String(repeating: "a", count: 64))
        #expect(Downloader.sha256(fromETag: "\"abc\"") == nil)
    }
}
