import DiffusionPipeline
import Foundation
@testable import ModelStore
import TensorCore
import TensorStorage
import Testing
import TestingSupport

/// One writer per model name, a fetch that finds its model installed, hub tokens, and a
/// download that cannot fit: each against the real HTTP server on 127.0.0.1.
@Suite("model store: locking, re-fetching, tokens, space", .serialized)
struct ConcurrencyAndAccessTests {
    @Test("while one command holds a name, fetch, add, convert and remove of it are refused; other names are free")
    func lockPerName() throws {
        try StoreFixtures.withStore { store, root in
            let server = try StoreFixtures.server(root)
            try FileManager.default.createDirectory(atPath: store.directory, withIntermediateDirectories: true)
            do {
                let held = try StoreLock(path: store.lockPath(of: "tiny"), name: "tiny")
                let busy = ModelStoreError.busy(name: "tiny", holder: getpid())
                _ = #expect(throws: busy) { try store.fetch(try StoreFixtures.request(server, "ok")) }
                _ = #expect(throws: busy) { try store.add(file: StoreFixtures.demoWeights, name: "tiny", check: .configFile(StoreFixtures.demoConfig)) }
                _ = #expect(throws: busy) { try store.remove(name: "tiny") }
                _ = #expect(throws: busy) { try store.convert(name: "tiny", to: .bf16) }
                #expect(busy.description.contains("process \(getpid())"))
                // Nothing was requested or written for the locked name.
                #expect(try server.requests().isEmpty)
                #expect(StoreFixtures.contents(store) == [".tiny.lock"])
                // Another name is not blocked.
                #expect(try store.fetch(try StoreFixtures.request(server, "ok", name: "other")).verified)
                withExtendedLifetime(held) {}
            }
            // Released: the lock file is gone and the name is free.
            #expect(StoreFixtures.contents(store) == ["other"])
            #expect(try store.fetch(try StoreFixtures.request(server, "ok")).verified)
            #expect(StoreFixtures.contents(store) == ["other", "tiny"])
        }
    }

    @Test("fetching an installed, verified model again downloads nothing; another file under the name is refused")
    func fetchAgain() throws {
        try StoreFixtures.withStore { store, root in
            let server = try StoreFixtures.server(root)
            let first = try store.fetch(try StoreFixtures.request(server, "ok"))
            let served = try server.requests().count
            let stages = StageLog()
            let again = try store.fetch(try StoreFixtures.request(server, "ok"), stage: { stages.append($0) })
            #expect(again == first)
            #expect(stages.names == ["alreadyInstalled"])
            #expect(try server.requests().count == served)
            // The same name from another source: not silently replaced.
            _ = #expect(throws: ModelStoreError.alreadyInstalled(name: "tiny", path: store.path(of: "tiny"))) {
                try store.fetch(try StoreFixtures.request(server, "direct"))
            }
            // A folder that is no longer verified (its weights changed) is not taken as installed.
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: first.weightsPath))
            try handle.seekToEnd()
            try handle.write(contentsOf: Data([1]))
            try handle.close()
            _ = #expect(throws: ModelStoreError.alreadyInstalled(name: "tiny", path: store.path(of: "tiny"))) {
                try store.fetch(try StoreFixtures.request(server, "ok"))
            }
        }
    }

    @Test("the hub token goes to the hub's host only, never to the CDN it redirects to")
    func tokenToHubOnly() throws {
        try StoreFixtures.withStore { store, root in
            let server = try StoreFixtures.server(root)
            let hub = try #require(URL(string: "http://127.0.0.1:\(server.port)"))
            var request = try StoreFixtures.request(server, "auth")
            // Without a token: access denied, with the advice to set one.
            let denied = #expect(throws: ModelStoreError.self) { try store.fetch(request) }
            #expect(denied == .accessDenied(url: request.url.absoluteString, status: 401, tokenSent: false))
            #expect(denied?.description.contains("HF_TOKEN") == true)
            // A wrong token: denied, and the message says the token is the problem.
            request.credentials = Downloader.Credentials(token: "wrong", origin: hub)
            #expect(throws: ModelStoreError.accessDenied(url: request.url.absoluteString, status: 401, tokenSent: true)) {
                try store.fetch(request)
            }
            #expect(StoreFixtures.contents(store).isEmpty)

            request.credentials = Downloader.Credentials(token: "secret", origin: hub)
            #expect(try store.fetch(request).verified)
            let log = try server.requests()
            let resolve = try #require(log.last { $0.status == 302 })
            #expect(resolve.auth == "Bearer secret")
            // The CDN (same server, reached as localhost: another host) got no token.
            let cdn = try #require(log.last { $0.path.hasPrefix("/cdn/auth") })
            #expect(cdn.status == 200)
            #expect(cdn.auth == nil)
        }
    }

    @Test("the token is found where huggingface_hub looks for it")
    func tokenLookup() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hf-token-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir + "/hf", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir + "/home/.cache/huggingface", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "from-hf-home\n".write(toFile: dir + "/hf/token", atomically: true, encoding: .utf8)
        try "from-home".write(toFile: dir + "/home/.cache/huggingface/token", atomically: true, encoding: .utf8)
        try "from-path".write(toFile: dir + "/explicit", atomically: true, encoding: .utf8)
        #expect(ModelSource.token(environment: ["HF_TOKEN": " env ", "HF_HOME": dir + "/hf"]) == "env")
        #expect(ModelSource.token(environment: ["HF_TOKEN_PATH": dir + "/explicit", "HF_HOME": dir + "/hf"]) == "from-path")
        #expect(ModelSource.token(environment: ["HF_HOME": dir + "/hf", "HOME": dir + "/home"]) == "from-hf-home")
        #expect(ModelSource.token(environment: ["HOME": dir + "/home"]) == "from-home")
        #expect(ModelSource.token(environment: ["HOME": dir + "/nowhere"]) == nil)
        let credentials = try #require(ModelSource.credentials(baseURL: "https://huggingface.co", environment: ["HF_TOKEN": "t"]))
        #expect(credentials.applies(to: try #require(URL(string: "https://huggingface.co/Doubiiu/DynamiCrafter/resolve/main/model.ckpt"))))
        #expect(!credentials.applies(to: try #require(URL(string: "https://cdn-lfs.huggingface.co/x"))))
        #expect(!credentials.applies(to: try #require(URL(string: "http://huggingface.co/x"))))
        #expect(!credentials.applies(to: try #require(URL(string: "https://huggingface.co:8443/x"))))
    }

    @Test("a file larger than the free space is refused before a byte is written")
    func noSpace() throws {
        try StoreFixtures.withStore { store, root in
            let server = try StoreFixtures.server(root)
            let error = #expect(throws: ModelStoreError.self) { try store.fetch(try StoreFixtures.request(server, "huge")) }
            guard case let .insufficientSpace(path, needed, available) = error else {
                Issue.record("expected insufficientSpace, got \(String(describing: error))")
                return
            }
            #expect(path == store.directory)
            #expect(needed == 1 << 60)
            #expect(available > 0 && available < needed)
            #expect(error?.description.contains("1.00 EiB needed") == true)
            #expect(StoreFixtures.contents(store).isEmpty)
        }
    }
}

/// The stages a fetch reported, by name.
final class StageLog: @unchecked Sendable {
    private let lock = NSLock()
    private var stages: [FetchStage] = []

    func append(_ stage: FetchStage) { lock.withLock { stages.append(stage) } }

    var names: [String] {
        lock.withLock {
            stages.map { stage in
                switch stage {
                case .alreadyInstalled: "alreadyInstalled"
                case .downloading: "downloading"
                case .hashing: "hashing"
                case .checkingKeys: "checkingKeys"
                case .installing: "installing"
                }
            }
        }
    }
}
