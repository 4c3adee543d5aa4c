import Foundation
import Testing
import TestingSupport

/// `dynamicrafter models fetch|add|list|remove` run as a user runs them, against a Hugging
/// Face-like HTTP server on 127.0.0.1 serving a demo model (32×32 frames).
@Suite("models command", .serialized)
struct ModelsCommandTests {
    /// One demo model (weights + config.json) for the suite.
    static let demo: String = {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("models-cli-demo-\(getpid())").path
        _ = try? CLIRunner.run(["demo-model", dir, "--size", "32"])
        return dir
    }()

    /// Runs the CLI with extra environment variables (proxies cleared so that loopback traffic
    /// goes straight to the test server; the user's Hugging Face token settings cleared).
    static func run(_ arguments: [String], environment extra: [String: String] = [:]) throws -> CLIRunner.Result {
        var edits: [String: String?] = [:]
        for key in ["http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY", "HF_ENDPOINT",
                    "HF_TOKEN", "HF_TOKEN_PATH", "HF_HOME", "XDG_CACHE_HOME"] {
            edits[key] = .some(nil)
        }
        for (key, value) in extra { edits[key] = value }
        return try CLIRunner.run(arguments, environment: edits)
    }

    func fetchTiny(_ server: TestServer, _ mode: String, models: String) throws -> CLIRunner.Result {
        try Self.run(["models", "fetch", "--url", server.url(mode), "--config", Self.demo + "/config.json", "--name", "tiny",
                      "--models-dir", models])
    }

    @Test("fetch installs and verifies; plain progress lines off a terminal; list and remove")
    func fetchListRemove() throws {
        try CLIRunner.withTemporaryDirectory { dir in
            let server = try TestServer(serving: Self.demo + "/model.safetensors", directory: dir)
            let models = dir + "/models"
            let r = try fetchTiny(server, "ok", models: models)
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.stdout.contains("installed tiny: \(models)/tiny/model.safetensors"))
            #expect(r.stdout.contains("verified"))
            #expect(r.stderr.contains("downloading \(server.url("ok"))"))
            #expect(r.stderr.contains("(100%)"))
            #expect(r.stderr.contains("/s"))
            #expect(r.stderr.contains("verifying the SHA-256"))
            #expect(!r.stderr.contains("\r"))
            // A line per tenth at most (plus the stage lines), not one per chunk.
            #expect(r.stderr.split(separator: "\n").count <= 16, "\(r.stderr)")

            let list = try Self.run(["models", "list", "--models-dir", models])
            #expect(list.status == 0)
            let lines = list.stdout.split(separator: "\n")
            #expect(lines.first?.hasPrefix("NAME") == true)
            #expect(lines.count == 2)
            #expect(lines.last?.hasPrefix("tiny") == true)
            #expect(lines.last?.contains(" yes ") == true)
            #expect(lines.last?.contains("F16") == true)

            let removed = try Self.run(["models", "remove", "tiny", "--models-dir", models])
            #expect(removed.status == 0)
            #expect(removed.stdout.contains("removed tiny"))
            let empty = try Self.run(["models", "list", "--models-dir", models])
            #expect(empty.stdout.contains("no models installed"))
            let again = try Self.run(["models", "remove", "tiny", "--models-dir", models])
            #expect(again.status == 1)
            #expect(again.stderr.contains("no model named tiny"))
        }
    }

    @Test("an interrupted fetch says how to resume; running it again resumes with Range")
    func resume() throws {
        try CLIRunner.withTemporaryDirectory { dir in
            let server = try TestServer(serving: Self.demo + "/model.safetensors", directory: dir)
            let models = dir + "/models"
            let first = try fetchTiny(server, "drop", models: models)
            #expect(first.status == 1)
            #expect(first.stderr.contains("run the same command again to resume"))
            let listed = try Self.run(["models", "list", "--models-dir", models])
            #expect(listed.stdout.contains("no models installed"))
            let second = try fetchTiny(server, "drop", models: models)
            #expect(second.status == 0, "\(second.stderr)")
            #expect(second.stderr.contains("resuming after"))
            #expect(server.requestLog.contains("\"range\": \"bytes="))
        }
    }

    @Test("a wrong published hash, 404 and 500 fail clearly and install nothing")
    func failures() throws {
        try CLIRunner.withTemporaryDirectory { dir in
            let server = try TestServer(serving: Self.demo + "/model.safetensors", directory: dir)
            let models = dir + "/models"
            let lie = try fetchTiny(server, "lie", models: models)
            #expect(lie.status == 1)
            #expect(lie.stderr.contains("corrupt or not the published one"))
            for status in ["404", "500"] {
                let r = try fetchTiny(server, status, models: models)
                #expect(r.status == 1)
                #expect(r.stderr.contains("HTTP \(status)"))
            }
            #expect(((try? FileManager.default.contentsOfDirectory(atPath: models)) ?? []).isEmpty)
        }
    }

    @Test("presets resolve through HF_ENDPOINT and --base-url; keys are checked before installing")
    func presetURLs() throws {
        try CLIRunner.withTemporaryDirectory { dir in
            let server = try TestServer(serving: Self.demo + "/model.safetensors", directory: dir)
            let models = dir + "/models"
            let viaEnv = try Self.run(["models", "fetch", "256", "--models-dir", models],
                                      environment: ["HF_ENDPOINT": "http://127.0.0.1:\(server.port)/ok"])
            #expect(viaEnv.status == 1)
            #expect(viaEnv.stderr.contains("downloading http://127.0.0.1:\(server.port)/ok/Doubiiu/DynamiCrafter/resolve/main/model.ckpt"))
            #expect(viaEnv.stderr.contains("do not fit the model"))
            let viaOption = try Self.run(["models", "fetch", "512-interp", "--models-dir", models,
                                          "--base-url", "http://127.0.0.1:\(server.port)/ok"])
            #expect(viaOption.stderr.contains("/ok/Doubiiu/DynamiCrafter_512_Interp/resolve/main/model.ckpt"))
            #expect(viaOption.status == 1)
            #expect(((try? FileManager.default.contentsOfDirectory(atPath: models)) ?? []).isEmpty)
            let unknown = try Self.run(["models", "fetch", "640", "--models-dir", models])
            #expect(unknown.status == 1)
            #expect(unknown.stderr.contains("unknown preset"))
        }
    }

    @Test("http_proxy is honoured (libcurl underneath URLSession), redirects included")
    func proxy() throws {
        try CLIRunner.withTemporaryDirectory { dir in
            let server = try TestServer(serving: Self.demo + "/model.safetensors", directory: dir)
            let r = try Self.run(["models", "fetch", "--url", "http://models.example.invalid/ok/Doubiiu/Tiny/resolve/main/model.ckpt",
                                  "--config", Self.demo + "/config.json", "--name", "tiny", "--models-dir", dir + "/models"],
                                 environment: ["http_proxy": "http://127.0.0.1:\(server.port)"])
            #expect(r.status == 0, "\(r.stderr)")
            #expect(server.requestLog.contains("\"path\": \"http://models.example.invalid/ok/Doubiiu/Tiny/resolve/main/model.ckpt\""))
            #expect(server.requestLog.contains("\"path\": \"http://models.example.invalid/cdn/ok/model.ckpt\""))
        }
    }

    @Test("an unreachable network names the manual alternative")
    func unreachable() throws {
        try CLIRunner.withTemporaryDirectory { dir in
            let r = try Self.run(["models", "fetch", "256", "--models-dir", dir + "/models", "--base-url", "http://127.0.0.1:1"])
            #expect(r.status == 1)
            #expect(r.stderr.contains("cannot reach"))
            #expect(r.stderr.contains("dynamicrafter models add FILE --preset 256"))
        }
    }

    @Test("add the demo model, list it under XDG_DATA_HOME, animate it by name, remove")
    func addDemo() throws {
        try CLIRunner.withTemporaryDirectory { dir in
            let env = ["XDG_DATA_HOME": dir + "/data"]
            let store = dir + "/data/dynamicrafter/models"
            let added = try Self.run(["models", "add", Self.demo + "/model.safetensors", "--config", Self.demo + "/config.json",
                                      "--name", "demo"], environment: env)
            #expect(added.status == 0, "\(added.stderr)")
            #expect(added.stdout.contains("installed demo"))
            #expect(added.stdout.contains("try: dynamicrafter animate --model demo --image"))
            #expect(FileManager.default.fileExists(atPath: store + "/demo/model.safetensors"))
            #expect(FileManager.default.fileExists(atPath: store + "/demo/config.json"))
            let list = try Self.run(["models", "list"], environment: env)
            #expect(list.stdout.contains("demo"))
            #expect(list.stdout.contains("\(store)/demo/model.safetensors"))
            // A preset the file does not fit: refused with the key report.
            let wrong = try Self.run(["models", "add", Self.demo + "/model.safetensors", "--preset", "256"], environment: env)
            #expect(wrong.status == 1)
            #expect(wrong.stderr.contains("missing"))
            // --convert needs a .ckpt source: a safetensors model is refused with a pointer to `convert`.
            let convert = try Self.run(["models", "add", Self.demo + "/model.safetensors", "--config", Self.demo + "/config.json",
                                        "--name", "demo2", "--convert", "bf16"], environment: env)
            #expect(convert.status == 1)
            #expect(convert.stderr.contains("already a safetensors file"))
            #expect(!FileManager.default.fileExists(atPath: store + "/demo2"))
            // `animate --model NAME` finds an installed model by its name.
            let image = dir + "/input.png"
            try Command("/usr/bin/gst-launch-1.0", ["-q", "videotestsrc", "num-buffers=1", "!", "video/x-raw,width=40,height=40",
                                                    "!", "pngenc", "!", "filesink", "location=\(image)"]).run().checked()
            let animated = try Self.run(["animate", "--model", "demo", "--image", image, "--frames", "2", "--steps", "1",
                                         "--output", dir + "/frames/"], environment: env)
            #expect(animated.status == 0, "\(animated.stderr)")
            #expect(animated.stderr.contains("loading \(store)/demo/model.safetensors"), "\(animated.stderr)")
            let unknown = try Self.run(["animate", "--model", "nothing", "--image", image, "--output", dir + "/x.mp4"], environment: env)
            #expect(unknown.status == 1)
            #expect(unknown.stderr.contains("nor a model of that name in \(store); installed: demo"), "\(unknown.stderr)")
            let removed = try Self.run(["models", "remove", "demo"], environment: env)
            #expect(removed.status == 0)
            #expect(!FileManager.default.fileExists(atPath: store + "/demo"))
        }
    }
}
