import ArgumentParser
import DiffusionPipeline

/// `dynamicrafter demo-model OUT_DIR`: a small random-weight model to try the pipeline with.
struct DemoModelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo-model",
        abstract: "Write a small random-weight demo model (its output is noise-like).",
        discussion: """
            Writes OUT_DIR/model.safetensors (~10 MB, float16) and OUT_DIR/config.json: the \
            DynamiCrafter architecture (the 256 model's structure at toy widths, 128×128 frames \
            by default, 16 frames) with deterministic random weights. It exercises the whole pipeline — \
            tokenizer, CLIP towers, Resampler, VAE, 3D UNet, DDIM — without the 10 GB download, \
            but it has learned nothing: its videos are noise-like. The real checkpoints are \
            the published model.ckpt files of DynamiCrafter 256/512/1024/512-interp (see README).
            """
    )

    @Argument(help: "The folder to write (created if needed).")
    var directory: String

    @Option(help: "Seed of the random weights.")
    var seed: UInt64 = 20231018

    @Option(help: "Frame size in pixels (square, a multiple of 16, 32–1024).")
    var size: Int = DemoModel.defaultFrameSize

    func run() throws {
        do {
            let written = try DemoModel.write(to: directory, seed: seed, frameSize: size)
            print("wrote \(written.weights) and \(written.config)")
            print("this is a demo model with random weights: it runs the real pipeline, but its output is noise-like")
            print("try: dynamicrafter animate --model \(directory) --image IMAGE --output clip.mp4")
        } catch {
            writeToStandardError("error: \(error)\n")
            throw ExitCode.failure
        }
    }
}
