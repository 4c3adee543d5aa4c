import Foundation
import TensorCore
import TensorStorage
import Testing
import TestingSupport

/// `dynamicrafter models` as a user meets it beyond the first download: `--convert` on a
/// published-format `.ckpt`, running the README's fetch again, two commands at once, tokens,
/// proxies for https, and a disk too small — against the Hugging Face-like server on 127.0.0.1.
@Suite("models command: convert, re-run, concurrency, tokens, proxies", .serialized)
struct ModelsConvertAndAccessTests {
    /// The suite's demo model (32×32 frames) and its weights as an f32 `.ckpt`.
    static let checkpoint: String = {
        let path = ModelsCommandTests.demo + "/model-f32.ckpt"
        _ = try? TestCheckpointWriter.write(weightsAt: ModelsCommandTests.demo + "/model.safetensors", to: path, dtype: .f32)
        return path
    }()
    static var config: String { ModelsCommandTests.demo + "/config.json" }

    func fetch(_ server: TestServer, _ mode: String, models: String, extra: [String] = [],
               environment: [String: String] = [:]) throws -> CLIRunner.Result {
        try ModelsCommandTests.run(["models", "fetch", "--url", server.url(mode), "--config", Self.config, "--name", "tiny",
                                    "--models-dir", models] + extra, environment: environment)
    }

    func requestCount(_ server: TestServer) -> Int {
        server.requestLog.split(separator: "\n").count
    }

    @Test("fetch --convert f16 writes the copy and says what it saves; running the command again downloads nothing")
    func fetchConvertAndRerun() throws {
        try CLIRunner.withTemporaryDirectory { dir in
            let server = try TestServer(serving: Self.checkpoint, directory: dir)
            let models = dir + "/models"
            let r = try fetch(server, "ok", models: models, extra: ["--convert", "f16"])
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.stdout.contains("installed tiny: \(models)/tiny/model.ckpt"))
            #expect(r.stdout.contains("wrote \(models)/tiny/model.safetensors (F16"))
            #expect(r.stdout.contains("smaller than model.ckpt"))
            #expect(r.stdout.contains("(50%)") || r.stdout.contains("(49%)"), "\(r.stdout)")
            let list = try ModelsCommandTests.run(["models", "list", "--models-dir", models])
            let row = try #require(list.stdout.split(separator: "\n").last)
            #expect(row.contains(" F16 ") && row.contains(" yes ") && row.hasSuffix("tiny/model.safetensors"), "\(list.stdout)")

            // The README's command run a second time: nothing downloaded, exit 0, so `&& animate` goes on.
            let served = requestCount(server)
            let again = try fetch(server, "ok", models: models, extra: ["--convert", "f16"])
            #expect(again.status == 0, "\(again.stderr)")
            #expect(again.stdout.contains("tiny is already installed"))
            #expect(again.stdout.contains("is already there"))
            #expect(!again.stderr.contains("downloading"))
            #expect(requestCount(server) == served)
            // Asking for another precision later converts the installed model.
            let bf16 = try fetch(server, "ok", models: models, extra: ["--convert", "bf16"])
            #expect(bf16.status == 0, "\(bf16.stderr)")
            #expect(bf16.stdout.contains("wrote \(models)/tiny/model.safetensors (BF16"))
            #expect(requestCount(server) == served)
        }
    }

    @Test("add --convert bf16 of a .ckpt, then animate loads the converted copy")
    func addConvertAnimate() throws {
        try CLIRunner.withTemporaryDirectory { dir in
            let models = dir + "/models"
            let added = try ModelsCommandTests.run(["models", "add", Self.checkpoint, "--config", Self.config, "--name", "tiny",
                                                    "--convert", "bf16", "--models-dir", models])
            #expect(added.status == 0, "\(added.stderr)")
            #expect(added.stdout.contains("wrote \(models)/tiny/model.safetensors (BF16"))
            #expect(added.stderr.contains("writing a BF16 copy of tiny"))
            let image = dir + "/input.png"
            try Command("/usr/bin/gst-launch-1.0", ["-q", "videotestsrc", "num-buffers=1", "!", "video/x-raw,width=48,height=40",
                                                    "!", "pngenc", "!", "filesink", "location=\(image)"]).run().checked()
            let out = dir + "/frames/"
            let animated = try CLIRunner.run(["animate", "--model", models + "/tiny", "--image", image, "--frames", "2",
                                              "--steps", "1", "--output", out], timeout: .seconds(300))
            #expect(animated.status == 0, "\(animated.stderr)")
            #expect(animated.stderr.contains("tiny/model.safetensors") || animated.stdout.contains("tiny/model.safetensors"),
                    "\(animated.stderr)")
            let frames = try FileManager.default.contentsOfDirectory(atPath: out).filter { $0.hasSuffix(".png") }
            #expect(frames.count == 2)
        }
    }

    @Test("a second fetch of the same name while the first runs is refused at once; so is removing it; the first completes")
    func concurrentFetch() throws {
        try CLIRunner.withTemporaryDirectory { dir in
            let server = try TestServer(serving: ModelsCommandTests.demo + "/model.safetensors", directory: dir)
            let models = dir + "/models"
            let first = try Command(try CLIRunner.executable().path,
                                    ["models", "fetch", "--url", server.url("slow"), "--config", Self.config, "--name", "tiny",
                                     "--models-dir", models]).start()
            defer { first.stop() }
            // Wait until the first is in the middle of its (slow) transfer.
            let deadline = Date().addingTimeInterval(30)
            while !server.requestLog.contains("/cdn/slow/"), Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
            #expect(server.requestLog.contains("/cdn/slow/"))

            let second = try fetch(server, "slow", models: models)
            #expect(second.status == 1)
            #expect(second.stderr.contains("another dynamicrafter command (process \(first.pid)) is installing"), "\(second.stderr)")
            let remove = try ModelsCommandTests.run(["models", "remove", "tiny", "--models-dir", models])
            #expect(remove.status == 1)
            #expect(remove.stderr.contains("another dynamicrafter command"))
            #expect(server.requestLog.split(separator: "\n").filter { $0.contains("/cdn/slow/") }.count == 1)

            // Let the first transfer finish.
            try server.releaseSlowTransfers()
            let finished = first.wait()
            #expect(finished.status == 0, "\(finished)")
            let list = try ModelsCommandTests.run(["models", "list", "--models-dir", models])
            #expect(list.stdout.contains(" yes "))
            #expect(try FileManager.default.contentsOfDirectory(atPath: models) == ["tiny"])
        }
    }

    @Test("HF_TOKEN, or the token file under HF_HOME, is sent to the hub; without one the message says to set it")
    func tokens() throws {
        try CLIRunner.withTemporaryDirectory { dir in
            let server = try TestServer(serving: ModelsCommandTests.demo + "/model.safetensors", directory: dir)
            let hub = ["--base-url", "http://127.0.0.1:\(server.port)"]
            let denied = try fetch(server, "auth", models: dir + "/m1", extra: hub, environment: ["HOME": dir])
            #expect(denied.status == 1)
            #expect(denied.stderr.contains("HTTP 401 (access denied)"))
            #expect(denied.stderr.contains("set HF_TOKEN"))

            let viaEnv = try fetch(server, "auth", models: dir + "/m2", extra: hub, environment: ["HF_TOKEN": "secret"])
            #expect(viaEnv.status == 0, "\(viaEnv.stderr)")

            try FileManager.default.createDirectory(atPath: dir + "/hf", withIntermediateDirectories: true)
            try "secret\n".write(toFile: dir + "/hf/token", atomically: true, encoding: .utf8)
            let viaFile = try fetch(server, "auth", models: dir + "/m3", extra: hub, environment: ["HF_HOME": dir + "/hf"])
            #expect(viaFile.status == 0, "\(viaFile.stderr)")

            // A --url on another host than the hub gets no token, even with HF_TOKEN set.
            let elsewhere = try fetch(server, "auth", models: dir + "/m4", extra: ["--base-url", "https://huggingface.co"],
                                      environment: ["HF_TOKEN": "secret"])
            #expect(elsewhere.status == 1)
            let lines = server.requestLog.split(separator: "\n")
            #expect(lines.filter { $0.contains("Bearer secret") }.count == 2)
            #expect(!lines.contains { $0.contains("/cdn/") && $0.contains("Bearer") })
        }
    }

    @Test("HTTPS_PROXY carries https downloads (a CONNECT to the proxy); a file too big for the disk is refused")
    func httpsProxyAndSpace() throws {
        try CLIRunner.withTemporaryDirectory { dir in
            let server = try TestServer(serving: ModelsCommandTests.demo + "/model.safetensors", directory: dir)
            let viaProxy = try ModelsCommandTests.run(
                ["models", "fetch", "--url", "https://models.example.invalid/ok/Doubiiu/Tiny/resolve/main/model.ckpt",
                 "--config", Self.config, "--name", "tiny", "--models-dir", dir + "/models"],
                environment: ["HTTPS_PROXY": "http://127.0.0.1:\(server.port)"])
            // The proxy refuses the tunnel (it is no real proxy); the point is that it was asked.
            #expect(viaProxy.status == 1)
            #expect(server.requestLog.contains("\"path\": \"models.example.invalid:443\""), "\(server.requestLog)")
            #expect(viaProxy.stderr.contains("HTTP 502"), "\(viaProxy.stderr)")

            let huge = try fetch(server, "huge", models: dir + "/models")
            #expect(huge.status == 1)
            #expect(huge.stderr.contains("not enough space in \(dir)/models: 1.00 EiB needed"), "\(huge.stderr)")
            #expect(((try? FileManager.default.contentsOfDirectory(atPath: dir + "/models")) ?? []).isEmpty)
        }
    }
}
