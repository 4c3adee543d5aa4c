import DynamiCrafterModel
import Foundation
import TensorCore
import TensorStorage
import Weights

/// What a model and a job need in memory, estimated before anything is loaded or run, and
/// what this process can have: a job that cannot fit is refused with both figures and what
/// would fit, instead of being killed by the kernel's OOM killer halfway through.
///
/// The estimates follow how the model is held (`AnimationModel`): the UNet, VAE and Resampler
/// packed at the chosen precision, the OpenCLIP towers streamed from the mapped file (only
/// their small parameters are resident), and a working set for the UNet's activations that
/// grows with frames × latent pixels (measured on the 256 model: see `activationBytesPerUnit`).
public struct MemoryBudget: Sendable {
    /// Bytes the process may still use; nil when unknown (then nothing is refused).
    public let availableBytes: Int?
    /// Where `availableBytes` came from, for messages.
    public let source: String

    public init(availableBytes: Int?, source: String) {
        self.availableBytes = availableBytes
        self.source = source
    }

    /// The environment variable that replaces the measured figure (bytes, or with a K/M/G/T
    /// suffix): for tests, and for people who want a tighter bound than the system's.
    public static let overrideVariable = "DYNAMICRAFTER_MEMORY_BUDGET"

    /// What this process can take now: the smaller of `MemAvailable` and the cgroup's headroom
    /// (`memory.max`/`memory.high` minus its current use, as under systemd's `MemoryMax=`),
    /// unless `DYNAMICRAFTER_MEMORY_BUDGET` says otherwise.
    public static func current(environment: [String: String] = ProcessInfo.processInfo.environment) -> MemoryBudget {
        if let text = environment[overrideVariable], let bytes = parseSize(text) {
            return MemoryBudget(availableBytes: bytes, source: "\(overrideVariable)")
        }
        let system = ProcessMemory.systemAvailableBytes
        let cgroup = ProcessMemory.cgroupHeadroomBytes
        switch (system, cgroup) {
        case let (s?, c?) where c < s: return MemoryBudget(availableBytes: c, source: "the cgroup's memory limit")
        case let (s?, _): return MemoryBudget(availableBytes: s, source: "MemAvailable")
        case let (nil, c?): return MemoryBudget(availableBytes: c, source: "the cgroup's memory limit")
        default: return MemoryBudget(availableBytes: nil, source: "unknown")
        }
    }

    /// `"12G"`, `"512M"`, `"1073741824"` → bytes.
    public static func parseSize(_ text: String) -> Int? {
        let t = text.trimmingCharacters(in: .whitespaces).uppercased()
        let units: [Character: Int] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40]
        var digits = t
        var scale = 1
        if let last = t.last, let unit = units[last] { digits = String(t.dropLast()); scale = unit }
        if digits.hasSuffix("I") || digits.hasSuffix("B") { return nil }
        guard let value = Double(digits), value >= 0, value * Double(scale) < Double(Int.max) else { return nil }
        return Int(value * Double(scale))
    }

    /// Refuses `needed` bytes when they exceed what is available; `suggestion` says what
    /// would fit.
    public func check(_ needed: Int, what: String, suggestion: String?) throws(InsufficientMemoryError) {
        guard let availableBytes, needed > availableBytes else { return }
        throw InsufficientMemoryError(what: what, neededBytes: needed, availableBytes: availableBytes, source: source,
                                      suggestion: suggestion)
    }
}

/// A model or job that does not fit in the memory this process can have.
public struct InsufficientMemoryError: Error, Sendable, Equatable, CustomStringConvertible {
    public let what: String
    public let neededBytes: Int
    public let availableBytes: Int
    public let source: String
    public let suggestion: String?

    public init(what: String, neededBytes: Int, availableBytes: Int, source: String, suggestion: String?) {
        self.what = what
        self.neededBytes = neededBytes
        self.availableBytes = availableBytes
        self.source = source
        self.suggestion = suggestion
    }

    public var description: String {
        var text = "not enough memory for \(what): it needs about \(humanBytes(neededBytes)), "
            + "\(humanBytes(availableBytes)) available (\(source))"
        if let suggestion { text += "; \(suggestion)" }
        return text
    }
}

/// Memory estimates of one model configuration. The parameter counts are read from the key
/// manifest once, at creation; every estimate after that is arithmetic.
public struct MemoryEstimate: Sendable {
    public let config: ModelConfig
    /// Elements packed at the model's precision: the matrices and kernels of the UNet, VAE and
    /// Resampler.
    let packedElements: Int
    /// Elements copied as f32: their vectors, and the encoders' parameters other than the
    /// Linear weights they stream from the file (embeddings, norms, biases).
    let f32Elements: Int

    /// Resident bytes of activations per (batch × frames × latent pixel × model channel) at
    /// the UNet's peak, measured with `bench model --stages unet`: 0.92 GiB over the loaded
    /// weights for the 256 model's batch-2 16 × 32×32 forward with 320 channels (10.5 M units),
    /// idle blocks of `ActivationMemory` included; rounded up.
    static let activationBytesPerUnit = 100
    /// What the step loop holds besides activations: `ActivationMemory`'s idle blocks and
    /// oneDNN's reusable buffers.
    static let workingBaseBytes = ActivationMemory.idleLimit
    /// Fixed overhead of a loaded model: runtime, libraries, oneDNN's primitives and JIT code,
    /// tokenizer. With the two counts above this puts the estimates 15–20 % above the measured
    /// peaks (256 f32 and bf16, 512 bf16, 1024 bf16).
    public static let baseBytes = 700 << 20

    public init(config: ModelConfig) throws {
        self.config = config
        var packed = 0, f32 = 0
        for entry in try ParameterManifest(config: config).entries {
            let n = entry.shape.reduce(1, *)
            let key = entry.key
            if key.hasPrefix(CheckpointKeys.textEncoder) || key.hasPrefix(CheckpointKeys.imageEncoder) {
                // Streamed Linear weights (`in_proj_weight` included) cost nothing between calls.
                let streamed = entry.shape.count == 2 && key.hasSuffix("weight") && !key.contains("embedding")
                if !streamed { f32 += n }
            } else if entry.shape.count >= 2 {
                packed += n
            } else {
                f32 += n
            }
        }
        packedElements = packed
        f32Elements = f32
    }

    /// Resident bytes of the loaded model's weights at `precision`.
    public func weightBytes(precision: Precision) -> Int {
        packedElements * (precision == .bf16 ? 2 : 4) + f32Elements * 4 + Self.baseBytes
    }

    /// Working memory of one latent frame of the UNet forward at `batch`.
    private func bytesPerFrame(batch: Int) -> Int {
        let s = config.params.imageSize
        let (h, w) = (s[0], s.count > 1 ? s[1] : s[0])
        return batch * h * w * config.params.unetConfig.params.modelChannels * Self.activationBytesPerUnit
    }

    /// Peak working memory of a job: the UNet forward with guidance (batch 2; 3 with separate
    /// image guidance) over `frames` latent frames (the VAE, decoding frame by frame, needs less).
    public func workingBytes(frames: Int, batch: Int = 2) -> Int {
        Self.workingBaseBytes + frames * bytesPerFrame(batch: batch)
    }

    /// Everything: weights plus the working set.
    public func totalBytes(precision: Precision, frames: Int, batch: Int = 2) -> Int {
        weightBytes(precision: precision) + workingBytes(frames: frames, batch: batch)
    }

    /// The largest frame count (at most `frames`) whose job fits in `available` beside weights
    /// at `precision`; nil when not even one frame does.
    public func framesThatFit(precision: Precision, available: Int, upTo frames: Int, batch: Int = 2) -> Int? {
        let room = available - weightBytes(precision: precision) - Self.workingBaseBytes
        let n = min(frames, room / max(bytesPerFrame(batch: batch), 1))
        return n >= 1 ? n : nil
    }

    /// What would fit instead of a refused run, for messages: bf16, or fewer frames. `daemon`
    /// names the daemon's settings instead of the command line's options.
    public func suggestion(precision: Precision, frames: Int, available: Int, batch: Int = 2, daemon: Bool = false) -> String {
        var options: [String] = []
        let bf16 = totalBytes(precision: .bf16, frames: frames, batch: batch)
        if precision == .f32, bf16 <= available {
            let setting = daemon ? "precision = bf16 (dynamicrafterd --precision bf16)" : "--precision bf16"
            options.append("\(setting) would fit (about \(humanBytes(bf16)))")
        }
        if let n = framesThatFit(precision: precision, available: available, upTo: frames - 1, batch: batch) {
            options.append("\(daemon ? "frames" : "--frames") \(n) would fit")
        }
        return options.isEmpty ? "close other programs or use a machine with more memory" : options.joined(separator: "; ")
    }
}
