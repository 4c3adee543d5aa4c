import DiffusionPipeline
import DynamiCrafterModel
import Foundation
import ReferenceCheck
import TensorCore
import Testing
import TestingSupport
import Weights

/// The trimmed golden set (scripts/make_reference_fixtures.py) in the repository.
let referenceFixtures = ReferenceFixtures.directory

@Suite("check-reference on the golden sets")
struct ReferenceCheckTests {
    /// Every golden file of both tiny models — text and image encoders, Resampler, VAE, UNet and
    /// the full sampling runs (animate on both, interpolate and loop on 512) — within the
    /// tolerances `ReferenceChecker.tolerance` documents.
    @Test("every tensor of every case passes", arguments: ["tiny-256", "tiny-512"])
    func everyCase(caseName: String) throws {
        let manifest = try GoldenManifest.load(directory: referenceFixtures)
        let checker = ReferenceChecker(manifest: manifest, context: ComputeContext(backend: ComputeBackends.makeDefault()))
        let report = try checker.run(cases: [caseName])
        for failure in report.failures { Issue.record("\(failure.line)") }
        #expect(report.passed)
        let files = Set(report.checks.map(\.file))
        let expectedFiles: Set<String> = caseName == "tiny-512"
            ? ["text_encoder.safetensors", "image_vision.safetensors", "vae.safetensors", "unet.safetensors",
               "sampling.safetensors", "sampling_interp.safetensors", "sampling_loop.safetensors"]
            : ["text_encoder.safetensors", "image_vision.safetensors", "vae.safetensors", "unet.safetensors",
               "sampling.safetensors"]
        #expect(files == expectedFiles)
        // The sampling checks reach the end of the pipeline.
        for name in ["cond.ctx", "uncond.ctx", "c_concat", "step.x_prev", "latent_final", "video_out", "frames_u8"] {
            #expect(report.checks.contains { $0.file == "sampling.safetensors" && $0.name == name }, "\(name) not checked")
        }
    }
}
