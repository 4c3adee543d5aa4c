import Foundation
import Testing
import TestingSupport

/// `animate --cache-interval`: runs with step caching, refuses values out of range.
@Suite("animate --cache-interval", .serialized)
struct CacheIntervalTests {
    @Test("--cache-interval 3 runs and says so; out-of-range values exit 1 naming the option")
    func cacheInterval() throws {
        try CLIRunner.withTemporaryDirectory { dir in
            let input = try AnimateCommandTests.image(dir, "in.png")
            func animate(_ arguments: [String], _ output: String) throws -> CLIRunner.Result {
                try CLIRunner.run(["animate", "--model", AnimateCommandTests.model, "--steps", "4", "--frames", "4",
                                   "--image", input, "--output", output] + arguments, timeout: .seconds(300))
            }
            let cached = try animate(["--cache-interval", "3"], dir + "/cached/")
            #expect(cached.status == 0, "\(cached.stderr)")
            #expect(cached.stderr.contains("step caching: every 3 steps"))
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/cached").count == 4)
            let off = try animate(["--cache-interval", "1"], dir + "/off/")
            #expect(off.status == 0, "\(off.stderr)")
            #expect(!off.stderr.contains("step caching"))

            for bad in ["11", "1000"] {
                let r = try animate(["--cache-interval", bad], dir + "/bad.mp4")
                #expect(r.status == 1, "--cache-interval \(bad): status \(r.status)")
                #expect(r.stderr.contains("invalid cache-interval \(bad): allowed 0…10"), "\(r.stderr)")
                #expect(!FileManager.default.fileExists(atPath: dir + "/bad.mp4"))
            }
        }
    }
}
