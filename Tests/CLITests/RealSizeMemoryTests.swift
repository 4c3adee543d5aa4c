import Foundation
import Testing
import TestingSupport

/// Opt-in: the real-size 256 checkpoint (`DYNAMICRAFTER_REAL_CHECKPOINT=/path/model.ckpt`,
/// written with `write_ckpt.py from-keys dynamicrafter_256_keys.tsv model.ckpt --legacy-256`)
/// animated for 2 steps at each precision, under `/usr/bin/time` for the peak RSS. About six
/// minutes per precision on two cores; never part of the default run.
@Suite("real-size memory (opt-in)", .serialized,
       .enabled(if: ProcessInfo.processInfo.environment["DYNAMICRAFTER_REAL_CHECKPOINT"] != nil,
                "opt-in: set DYNAMICRAFTER_REAL_CHECKPOINT to a real-size 256 checkpoint (minutes per run)"))
struct RealSizeMemoryTests {
    /// What the memory issue asks of a 2-step 16-frame run: peak RSS, and load time from the
    /// page cache (the run before this one warms it).
    static let limits: [(precision: String, peakGiB: Double, loadSeconds: Double)] = [("f32", 13, 20), ("bf16", 7, 40)]

    @Test("animate --steps 2 on the 256 checkpoint stays within its peak and load time", arguments: [0, 1])
    func animate(index: Int) throws {
        let checkpoint = try #require(ProcessInfo.processInfo.environment["DYNAMICRAFTER_REAL_CHECKPOINT"])
        let limit = Self.limits[index]
        try CLIRunner.withTemporaryDirectory { dir in
            let output = dir + "/clip.mp4"
            let timing = dir + "/time.txt"
            let result = try Command("/usr/bin/time", [
                "-f", "%M", "-o", timing, try CLIRunner.executable().path, "animate", "--model", checkpoint,
                "--config", "256", "--image", CLIRunner.packageRoot.appendingPathComponent("examples/input.png").path,
                "--prompt", "waves", "--steps", "2", "--precision", limit.precision, "--output", output,
            ], timeout: .seconds(1800)).run()
            let text = result.stdout + result.stderr
            #expect(result.status == 0, "\(text)")
            let kilobytes = try #require(Double(try String(contentsOfFile: timing, encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "\n").last.map(String.init) ?? ""))
            let peak = kilobytes / 1024 / 1024
            print("\(limit.precision): peak RSS \(String(format: "%.2f", peak)) GiB\n\(text)")
            #expect(peak <= limit.peakGiB, "\(limit.precision) peak \(peak) GiB")
            let line = try #require(text.split(separator: "\n").first { $0.hasPrefix("loaded ") })
            let seconds = try #require(line.split(separator: " ").firstIndex(of: "in").flatMap { Double(line.split(separator: " ")[$0 + 1]) })
            #expect(seconds <= limit.loadSeconds, "\(line)")
            #expect(FileManager.default.fileExists(atPath: output))
        }
    }
}
