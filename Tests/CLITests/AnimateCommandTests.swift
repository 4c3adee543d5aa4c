import Foundation
import Testing
import TestingSupport

/// `demo-model` and `animate` end to end: the real binary, real images decoded by GStreamer,
/// real videos checked with ffprobe. The demo model at 64×64 keeps each run to seconds.
@Suite("animate end to end", .serialized)
struct AnimateCommandTests {
    /// One demo model (64×64 frames) for the whole suite.
    static let model: String = {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("animate-tests-model-\(getpid())").path
        _ = try? CLIRunner.run(["demo-model", dir, "--size", "64"])
        return dir
    }()

    /// A test image written by GStreamer (`videotestsrc` pattern → PNG or JPEG).
    static func image(_ dir: String, _ name: String, pattern: String = "smpte", width: Int = 96, height: Int = 80) throws -> String {
        let path = (dir as NSString).appendingPathComponent(name)
        let encoder = name.hasSuffix(".jpg") ? "jpegenc" : "pngenc"
        try Command("/usr/bin/gst-launch-1.0", ["-q", "videotestsrc", "num-buffers=1", "pattern=\(pattern)", "!",
                                                "video/x-raw,width=\(width),height=\(height)", "!", encoder, "!",
                                                "filesink", "location=\(path)"]).run().checked()
        return path
    }

    static func probe(_ path: String) throws -> [String: String] {
        let out = try Command("/usr/bin/ffprobe", ["-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
                                                   "stream=nb_read_frames,width,height,r_frame_rate,codec_name", "-of", "default=nw=1",
                                                   path]).run().checked().stdout
        var fields: [String: String] = [:]
        for line in out.split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1).map(String.init)
            if parts.count == 2 { fields[parts[0]] = parts[1] }
        }
        return fields
    }

    func animate(_ arguments: [String], timeout: Duration = .seconds(300)) throws -> CLIRunner.Result {
        try CLIRunner.run(["animate", "--model", Self.model, "--steps", "4"] + arguments, timeout: timeout)
    }

    @Test("demo-model is deterministic and says it is noise")
    func demoModel() throws {
        try CLIRunner.withTemporaryDirectory { dir in
            let a = try CLIRunner.run(["demo-model", dir + "/a", "--size", "64"])
            let b = try CLIRunner.run(["demo-model", dir + "/b", "--size", "64"])
            #expect(a.status == 0 && b.status == 0)
            #expect(a.stdout.contains("noise-like"))
            let wa = try Data(contentsOf: URL(fileURLWithPath: dir + "/a/model.safetensors"))
            let wb = try Data(contentsOf: URL(fileURLWithPath: dir + "/b/model.safetensors"))
            #expect(wa == wb)
            #expect(wa.count > 1_000_000 && wa.count < 20_000_000)
            let bad = try CLIRunner.run(["demo-model", dir + "/c", "--size", "50"])
            #expect(bad.status == 1)
            #expect(bad.stderr.contains("multiple of 16"))
        }
    }

    @Test("an mp4 with the default 16 frames at the model size and 8 fps; plain progress lines")
    func mp4() throws {
        try CLIRunner.withTemporaryDirectory { dir in
            let input = try Self.image(dir, "in.jpg")
            let output = dir + "/clip.mp4"
            let r = try animate(["--image", input, "--prompt", "a rotating test card", "--output", output])
            #expect(r.status == 0, "\(r.stderr)")
            let p = try Self.probe(output)
            #expect(p["codec_name"] == "h264")
            #expect(p["nb_read_frames"] == "16")
            #expect(p["width"] == "64" && p["height"] == "64")
            #expect(p["r_frame_rate"] == "8/1")
            // Not a terminal: one line per stage and step, no carriage returns.
            #expect(r.stderr.contains("[denoising] step 4/4"))
            #expect(r.stderr.contains("[decoding]"))
            #expect(!r.stderr.contains("\r"))
            #expect(r.stdout.contains("wrote \(output): 16 frames"))
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasPrefix(".") }
            #expect(leftovers.isEmpty)
        }
    }

    @Test("the same seed gives byte-identical frames; another seed does not")
    func seeds() throws {
        try CLIRunner.withTemporaryDirectory { dir in
            let input = try Self.image(dir, "in.png", pattern: "ball")
            func frames(_ seed: Int, _ name: String) throws -> [Data] {
                let out = dir + "/\(name)/"
                let r = try animate(["--image", input, "--seed", "\(seed)", "--frames", "4", "--output", out])
                #expect(r.status == 0, "\(r.stderr)")
                let files = try FileManager.default.contentsOfDirectory(atPath: out).sorted()
                #expect(files == ["frame_0000.png", "frame_0001.png", "frame_0002.png", "frame_0003.png"])
                return try files.map { try Data(contentsOf: URL(fileURLWithPath: out + $0)) }
            }
            let first = try frames(7, "a"), second = try frames(7, "b"), other = try frames(8, "c")
            #expect(first == second)
            #expect(first != other)
        }
    }

    @Test("frames other than the trained 16 work and warn")
    func otherFrameCount() throws {
        try CLIRunner.withTemporaryDirectory { dir in
            let input = try Self.image(dir, "in.png")
            let r = try animate(["--image", input, "--frames", "6", "--output", dir + "/clip.webm"])
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.stderr.contains("warning: the model was trained on 16 frames"))
            let p = try Self.probe(dir + "/clip.webm")
            #expect(p["nb_read_frames"] == "6")
        }
    }

    @Test("interpolate between two images, and loop (drops the last frame)")
    func interpolateAndLoop() throws {
        try CLIRunner.withTemporaryDirectory { dir in
            let start = try Self.image(dir, "a.png", pattern: "smpte")
            let end = try Self.image(dir, "b.png", pattern: "snow", width: 64, height: 64)
            let r = try animate(["--image", start, "--end-image", end, "--mode", "interpolate", "--frames", "8",
                                 "--output", dir + "/interp.gif"])
            #expect(r.status == 0, "\(r.stderr)")
            #expect(try Self.probe(dir + "/interp.gif")["nb_read_frames"] == "8")
            let loop = try animate(["--image", start, "--mode", "loop", "--frames", "8", "--output", dir + "/loop.mp4"])
            #expect(loop.status == 0, "\(loop.stderr)")
            #expect(try Self.probe(dir + "/loop.mp4")["nb_read_frames"] == "7")
            let missingEnd = try animate(["--image", start, "--mode", "interpolate", "--output", dir + "/x.mp4"])
            #expect(missingEnd.status != 0)
            #expect(missingEnd.stderr.contains("--end-image"))
        }
    }

    @Test("bad input: a clear message, exit status 1, nothing written")
    func badInput() throws {
        try CLIRunner.withTemporaryDirectory { dir in
            let good = try Self.image(dir, "in.png")
            let text = dir + "/notes.png"
            try "not an image".write(toFile: text, atomically: true, encoding: .utf8)
            let huge = dir + "/huge.png"
            try Self.pngHeader(width: 40000, height: 40000).write(to: URL(fileURLWithPath: huge))
            let unknownConfig = dir + "/config.json"
            var config = try String(contentsOfFile: Self.model + "/config.json", encoding: .utf8)
            config = config.replacingOccurrences(of: "\"fs_condition\": true", with: "\"fs_condition\": true, \"flash_attention\": true")
            try config.write(toFile: unknownConfig, atomically: true, encoding: .utf8)
            let output = dir + "/out.mp4"
            let cases: [([String], String)] = [
                (["--image", text], "notes.png"),
                (["--image", huge], "huge.png"),
                (["--image", dir + "/missing.png"], "missing.png"),
                (["--image", good, "--frames", "0"], "frames"),
                (["--image", good, "--frames", "100000"], "frames"),
                (["--image", good, "--steps", "0"], "steps"),
                (["--image", good, "--steps", "5000"], "steps"),
                (["--image", good, "--cfg-scale", "nan"], "cfg-scale"),
                (["--image", good, "--config", "256"], "wrong shape"),
                (["--image", good, "--config", unknownConfig], "flash_attention"),
                (["--image", good, "--fps", "10"], "frame stride"),
            ]
            for (arguments, needle) in cases {
                let r = try animate(arguments + ["--output", output])
                #expect(r.status == 1, "\(arguments): status \(r.status)")
                #expect(r.stderr.contains(needle), "\(arguments): \(r.stderr)")
                #expect(!FileManager.default.fileExists(atPath: output))
            }
            let avi = try animate(["--image", good, "--output", dir + "/out.avi"])
            #expect(avi.status == 1)
            #expect(avi.stderr.contains(".avi"))
        }
    }

    @Test("a run that does not fit the memory budget is refused before loading; bf16 runs and reports its load")
    func memoryBudgetAndPrecision() throws {
        try CLIRunner.withTemporaryDirectory { dir in
            let good = try Self.image(dir, "in.png")
            let output = dir + "/out.mp4"
            let refused = try CLIRunner.run(["animate", "--model", Self.model, "--steps", "2", "--image", good, "--output", output],
                                            environment: ["DYNAMICRAFTER_MEMORY_BUDGET": "64M"])
            #expect(refused.status == 1)
            #expect(refused.stderr.contains("not enough memory"), "\(refused.stderr)")
            #expect(refused.stderr.contains("64.00 MiB available (DYNAMICRAFTER_MEMORY_BUDGET)"), "\(refused.stderr)")
            #expect(!refused.stderr.contains("loaded "), "refused before loading")
            #expect(!FileManager.default.fileExists(atPath: output))

            let bf16 = try animate(["--image", good, "--frames", "4", "--precision", "bf16", "--output", output])
            #expect(bf16.status == 0, "\(bf16.stderr)")
            let log = bf16.stdout + bf16.stderr
            #expect(log.contains("(bf16) in "), "\(log)")
            #expect(log.contains("iB resident)"), "\(log)")
            #expect(FileManager.default.fileExists(atPath: output))
            let bad = try animate(["--image", good, "--precision", "f8", "--output", output + ".2.mp4"])
            #expect(bad.status != 0)
        }
    }

    @Test("Ctrl-C stops the run and leaves no output")
    func interrupt() throws {
        try CLIRunner.withTemporaryDirectory { dir in
            let input = try Self.image(dir, "in.png")
            let output = dir + "/clip.mp4"
            let run = try Command(try CLIRunner.executable().path,
                                  ["animate", "--model", Self.model, "--image", input, "--steps", "500", "--output", output]).start()
            // Wait until sampling is under way, then interrupt.
            let clock = ContinuousClock()
            let deadline = clock.now + .seconds(240)
            while clock.now < deadline, run.isRunning, !run.stderr.contains("[denoising] step 1/") {
                Thread.sleep(forTimeInterval: 0.05)
            }
            let sent = clock.now
            run.signal(SIGINT)
            let result = run.wait(timeout: .seconds(60))
            let stopped = sent.duration(to: clock.now)
            // The tool's own exit status for an interrupted run, not death by the signal.
            #expect(result.termination == .exit(130), "\(result)")
            #expect(stopped < .seconds(30), "took \(stopped) to stop")
            #expect(result.stderr.contains("cancelled; nothing was written"))
            let left = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
            #expect(left == ["in.png"])
        }
    }

    /// A PNG that claims `width`×`height` (signature and IHDR only).
    static func pngHeader(width: Int, height: Int) -> Data {
        var ihdr: [UInt8] = Array("IHDR".utf8)
        for v in [UInt32(width), UInt32(height)] { ihdr += withUnsafeBytes(of: v.bigEndian, Array.init) }
        ihdr += [8, 2, 0, 0, 0]
        var bytes: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        bytes += withUnsafeBytes(of: UInt32(13).bigEndian, Array.init)
        bytes += ihdr
        bytes += withUnsafeBytes(of: crc32(ihdr).bigEndian, Array.init)
        return Data(bytes)
    }

    static func crc32(_ data: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in data {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = (crc >> 1) ^ (crc & 1 == 1 ? 0xEDB8_8320 : 0) }
        }
        return ~crc
    }
}
