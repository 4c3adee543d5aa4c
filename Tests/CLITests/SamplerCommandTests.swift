import Foundation
import TensorStorage
import Testing
import TestingSupport
import Weights

extension AnimateCommandTests {
    @Test("--sampler unipc runs; --latent-out writes the final latent as one f32 tensor; bad values exit 1")
    func samplerAndLatentOut() throws {
        try CLIRunner.withTemporaryDirectory { dir in
            let input = try Self.image(dir, "in.png")
            let output = dir + "/frames/"
            try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
            let latentPath = dir + "/latent.safetensors"
            let r = try animate(["--image", input, "--frames", "4", "--sampler", "unipc", "--latent-out", latentPath,
                                 "--output", output])
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.stderr.contains("4 unipc steps") && r.stderr.contains("[denoising] step 4/4"))
            let latent = try WeightFile.open(latentPath)
            #expect(latent.names == ["latent"])
            let tensor = try latent.tensor(named: "latent")
            #expect(tensor.dtype == .f32 && tensor.shape == [1, 4, 4, 8, 8])
            #expect(try tensor.toTensor().scalars.allSatisfy(\.isFinite))

            let bad: [([String], String)] = [
                (["--sampler", "euler"], "ddim, dpmpp-2m, unipc"),
                (["--sampler", "dpmpp-2m", "--eta", "1"], "eta"),
                (["--latent-out", dir + "/latent.bin"], ".safetensors"),
                (["--latent-out", dir + "/missing/latent.safetensors"], "existing folder"),
            ]
            for (arguments, needle) in bad {
                let video = dir + "/bad.mp4"
                let refused = try animate(["--image", input, "--frames", "2"] + arguments + ["--output", video])
                #expect(refused.status == 1, "\(arguments): status \(refused.status)")
                #expect(refused.stderr.contains(needle), "\(arguments): \(refused.stderr)")
                #expect(!FileManager.default.fileExists(atPath: video))
            }
        }
    }
}
