import DiffusionPipeline
import DynamiCrafterModel
import ModelStore
import TensorCore

/// One model found in the models directory, located and configured but not loaded.
public struct ModelEntry: Sendable {
    /// The folder name, or the weights file's name without its extension.
    public let name: String
    /// What was found in the directory: the folder or the weights file.
    public let path: String
    public let location: ModelLocation
    /// The frame size the model generates.
    public let frameWidth: Int
    public let frameHeight: Int
    /// The weights file's size in bytes.
    public let sizeBytes: UInt64
    /// The models folder's install record vouches for the weights that load (hash and keys
    /// checked by `dynamicrafter models fetch|add`, size unchanged since). False for models
    /// put there by hand.
    public let verified: Bool
    /// Floating-point dtypes of the weights that load ("F32", "BF16", "F16+F32"…).
    public let dtype: String

    public var weightsPath: String { location.weightsPath }
    /// The preset name (256, 512, 512-interp, 1024); nil for a model with its own configuration.
    public var preset: String? { location.preset }
    public var defaultFrames: Int { location.defaults.frames }
    public var defaultMode: AnimationMode { AnimationMode(location.defaults.mode) }
}

/// A model as listed to clients: the entry and its place in the service.
public struct ModelInfo: Sendable {
    public let entry: ModelEntry
    /// Whether it is the model in memory now.
    public let isLoaded: Bool
    /// Whether requests that name no model use it.
    public let isDefault: Bool
    /// The precision the engine loads it at.
    public let precision: Precision
    /// Estimated bytes loaded at that precision with a job of its default length (0 when the
    /// estimate failed).
    public let estimatedBytes: Int
}
