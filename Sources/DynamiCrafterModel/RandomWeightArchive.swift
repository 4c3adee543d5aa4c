import TensorCore
import TensorStorage
import Weights

/// A `WeightArchive` of deterministic random float32 tensors with the keys and shapes of a
/// `ParameterManifest`: the whole model can be built without a checkpoint (benchmarks, memory
/// and shape checks). Nothing is kept: every `tensor(named:)` synthesises a fresh tensor, so
/// once a block has packed its weights the only copy left is the block's own.
///
/// Values are uniform and chosen so that a forward pass stays finite at any depth:
/// - Linear and convolution weights (`weight` / `in_proj_weight` of rank ≥ 2): standard
///   deviation `1/√fan_in`, `fan_in` = the product of every dimension after the first, so each
///   layer roughly keeps the scale of its input;
/// - norm scales (rank-1 `weight`): `1 ± 0.1`;
/// - embeddings, learned latents and projections (`positional_embedding`, `token_embedding`,
///   `class_embedding`, `latents`, `proj`, …): standard deviation 0.02;
/// - everything else (biases, scalars such as the gates' `alpha`, schedule buffers): `±0.02`.
///
/// Element `i` of a tensor is a hash of (seed, key, i) — a counter-based generator — so the
/// values do not depend on how the fill is split over threads.
public struct RandomWeightArchive: WeightArchive {
    public let seed: UInt64
    public let path: String
    public let names: [String]
    private let shapes: [String: [Int]]

    /// `label` names the archive in messages (`path` is `random:<label>`).
    public init(manifest: ParameterManifest, seed: UInt64 = 0, label: String = "manifest") {
        self.seed = seed
        path = "random:\(label)"
        shapes = manifest.shapes
        names = manifest.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    /// The protocol knows only file formats; this archive reads like a safetensors file (typed,
    /// contiguous, little-endian float32).
    public var format: WeightFileFormat { .safetensors }

    public func info(named name: String) -> TensorInfo? {
        shapes[name].map { TensorInfo(dtype: .f32, shape: $0) }
    }

    public var metadata: [String: String] { ["synthetic": "uniform random", "seed": String(seed)] }

    /// The bytes the tensors would take as float32 (there is no file).
    public var fileSize: Int { shapes.values.reduce(0) { $0 + 4 * $1.reduce(1, *) } }

    public func tensor(named name: String) throws -> TensorData {
        guard let shape = shapes[name] else {
            throw WeightsError(.tensorNotFound, path: path, "no tensor named '\(name)' (the manifest has \(names.count) keys)")
        }
        let values = Self.values(key: name, shape: shape, seed: seed)
        let count = shape.reduce(1, *)
        let storage = ByteStorage(count: 4 * count) { raw in
            let dst = raw.bindMemory(to: Float.self)
            guard let base = dst.baseAddress else { return }
            let out = UncheckedSendable(base)
            let stream = Self.stream(key: name, seed: seed)
            Parallel.forRanges(count, minimumChunk: 1 << 16) { r in
                for i in r { out.value[i] = values.offset + values.halfWidth * Self.unit(stream, UInt64(i)) }
            }
        }
        return try TensorData(dtype: .f32, shape: shape, storage: storage)
    }

    /// Centre and half-width of the uniform distribution of `key`.
    static func values(key: String, shape: [Int], seed: UInt64) -> (offset: Float, halfWidth: Float) {
        let leaf = key.split(separator: ".").last.map(String.init) ?? key
        let sqrt3: Float = 1.7320508
        let isEmbedding = key.hasSuffix("embedding") || key.hasSuffix("embedding.weight")
            || ["latents", "proj", "text_projection", "class_embedding"].contains(leaf)
        if isEmbedding { return (0, 0.02 * sqrt3) }
        if shape.count >= 2, leaf == "weight" || leaf == "in_proj_weight" {
            let fanIn = max(shape.dropFirst().reduce(1, *), 1)
            return (0, sqrt3 / Float(fanIn).squareRoot())
        }
        if shape.count == 1, leaf == "weight" { return (1, 0.1) }
        return (0, 0.02)
    }

    /// The per-tensor stream: the seed mixed with an FNV-1a hash of the key.
    static func stream(key: String, seed: UInt64) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in key.utf8 { h = (h ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        return mix(h ^ mix(seed))
    }

    /// Element `i` of a stream as a uniform float in [-1, 1).
    @inline(__always)
    static func unit(_ stream: UInt64, _ i: UInt64) -> Float {
        let bits = mix(stream &+ (i &+ 1) &* 0x9e37_79b9_7f4a_7c15)
        return Float(bits >> 40) * (2 / Float(1 << 24)) - 1
    }

    /// SplitMix64's finaliser.
    @inline(__always)
    static func mix(_ x: UInt64) -> UInt64 {
        var z = x
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
