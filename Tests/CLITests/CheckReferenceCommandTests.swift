import Foundation
import Testing
import TestingSupport

/// `dynamicrafter check-reference` on the trimmed golden set the repository ships.
@Suite("check-reference command", .serialized)
struct CheckReferenceCommandTests {
    static let fixtures = ReferenceFixtures.directory

    @Test("passes on the golden set and dumps every computed tensor")
    func passesAndDumps() throws {
        try CLIRunner.withTemporaryDirectory { dir in
            let r = try CLIRunner.run(["check-reference", Self.fixtures, "--case", "tiny-256", "--dump", dir])
            #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
            #expect(r.stdout.contains("PASS  tiny-256/sampling.safetensors latent_final"))
            #expect(r.stdout.contains("loaded tiny-256 (f32) in "), "the load line")
            #expect(r.stdout.contains(" 0 failed"))
            #expect(!r.stdout.contains("FAIL"))
            let dumped = try FileManager.default.contentsOfDirectory(atPath: dir + "/tiny-256").sorted()
            #expect(dumped == ["image_vision.safetensors", "sampling.safetensors", "text_encoder.safetensors",
                               "unet.safetensors", "vae.safetensors"])
            let listing = try CLIRunner.run(["inspect", dir + "/tiny-256/sampling.safetensors", "--tsv"])
            for name in ["cond.ctx", "c_concat", "x_T", "step.x_prev", "latent_final", "video_out", "frames_u8"] {
                #expect(listing.stdout.contains(name + "\t"), "\(name) not dumped")
            }
            #expect(listing.stdout.contains("frames_u8\tU8\t4,64,64,3"))
        }
    }

    @Test("a tampered golden tensor fails with its name and exit status 1")
    func tampered() throws {
        try CLIRunner.withTemporaryDirectory { dir in
            let fm = FileManager.default
            try fm.createDirectory(atPath: dir + "/tiny-256", withIntermediateDirectories: true)
            for name in try fm.contentsOfDirectory(atPath: Self.fixtures + "/tiny-256") {
                try fm.copyItem(atPath: Self.fixtures + "/tiny-256/" + name, toPath: dir + "/tiny-256/" + name)
            }
            try fm.copyItem(atPath: Self.fixtures + "/manifest.json", toPath: dir + "/manifest.json")
            // Change one value of the golden `out` of the text encoder by a visible amount.
            let path = dir + "/tiny-256/text_encoder.safetensors"
            var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
            let headerLength = Int(bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
            let header = try #require(try JSONSerialization.jsonObject(with: bytes[8..<(8 + headerLength)]) as? [String: Any])
            let out = try #require(header["out"] as? [String: Any])
            let offsets = try #require(out["data_offsets"] as? [Int])
            let at = 8 + headerLength + offsets[0] + 40
            var value = bytes[at..<(at + 4)].withUnsafeBytes { $0.loadUnaligned(as: Float.self) }
            value += 0.5
            withUnsafeBytes(of: value) { bytes.replaceSubrange(at..<(at + 4), with: $0) }
            try bytes.write(to: URL(fileURLWithPath: path))

            let r = try CLIRunner.run(["check-reference", dir, "--case", "tiny-256", "--quiet"])
            #expect(r.status == 1)
            #expect(r.stdout.contains("FAIL  tiny-256/text_encoder.safetensors out"))
            #expect(r.stdout.contains(" 1 failed"))
        }
    }

    @Test("a folder without a manifest, or an unknown case, is a clear error")
    func badArguments() throws {
        try CLIRunner.withTemporaryDirectory { dir in
            let r = try CLIRunner.run(["check-reference", dir])
            #expect(r.status == 1)
            #expect(r.stderr.contains("manifest.json"))
            let unknown = try CLIRunner.run(["check-reference", Self.fixtures, "--case", "tiny-9000"])
            #expect(unknown.status != 0)
            #expect(unknown.stderr.contains("tiny-9000"))
        }
    }
}
