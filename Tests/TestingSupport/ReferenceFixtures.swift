import Foundation
import TensorCore
import Weights

/// The trimmed golden set committed in Tests/Fixtures/reference (written by
/// scripts/make_reference_fixtures.py): per tiny case, the model's full random weights split
/// into `weights-partN.safetensors` and the golden tensors of every stage (`unet.safetensors`,
/// `vae.safetensors`, `text_encoder.safetensors`, `image_vision.safetensors`, `sampling*.safetensors`).
///
/// It is the only copy of the tiny models in the repository: `check-reference` and the model
/// tests read the same files. They are found from this file's path because a SwiftPM test
/// target can only bundle resources from its own directory, and these belong to no one target.
public enum ReferenceFixtures {
    /// The two tiny cases (256: eps-prediction, learnable image gates; 512: v-prediction).
    public static let cases = ["tiny-256", "tiny-512"]

    /// Tests/Fixtures/reference.
    public static let directory: String = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/reference").path

    /// The folder of one case.
    public static func caseDirectory(_ name: String) -> String {
        (directory as NSString).appendingPathComponent(name)
    }

    /// The weight parts of a case, in numeric order (part2 before part10).
    public static func weightPaths(_ name: String) throws -> [String] {
        let folder = caseDirectory(name)
        let parts = try FileManager.default.contentsOfDirectory(atPath: folder)
            .filter { $0.hasPrefix("weights-part") && $0.hasSuffix(".safetensors") }
            .sorted { $0.compare($1, options: .numeric) == .orderedAscending }
        guard !parts.isEmpty else {
            throw WeightsError(.fileNotFound, path: folder, "no weights-part*.safetensors in \(folder)")
        }
        return parts.map { (folder as NSString).appendingPathComponent($0) }
    }

    /// Every weight of a case (all submodules: UNet, VAE, both CLIP towers, Resampler) as one archive.
    public static func weights(_ name: String) throws -> MergedArchive {
        try MergedArchive.open(weightPaths(name))
    }

    /// One golden file of a case, e.g. `golden("tiny-256", "unet.safetensors")`.
    public static func golden(_ name: String, _ file: String) throws -> any WeightArchive {
        try WeightFile.open((caseDirectory(name) as NSString).appendingPathComponent(file))
    }
}
