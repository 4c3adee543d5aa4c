import TensorCore
import TensorStorage

/// The OpenCLIP text tower as DynamiCrafter's `FrozenOpenCLIPEmbedder(layer: "penultimate")`
/// runs it: `token_embedding[ids] + positional_embedding`, the first `layers − 1` residual
/// blocks with a causal mask (the last block is skipped), then `ln_final`. No pooling, no
/// projection: all `contextLength` positions are the text context `[N, 77, width]`.
public struct CLIPTextEncoder: Sendable {
    public struct Configuration: Sendable, Hashable, Codable {
        public var width: Int
        public var heads: Int
        /// Blocks in the checkpoint; `layers − 1` of them run.
        public var layers: Int
        public var mlpWidth: Int
        public var contextLength: Int
        public var vocabSize: Int

        public init(width: Int, heads: Int, layers: Int, mlpWidth: Int? = nil,
                    contextLength: Int = 77, vocabSize: Int = 49408) {
            self.width = width; self.heads = heads; self.layers = layers
            self.mlpWidth = mlpWidth ?? 4 * width
            self.contextLength = contextLength; self.vocabSize = vocabSize
        }

        /// OpenCLIP ViT-H-14's text tower (DynamiCrafter's text encoder).
        public static let vitH14 = Configuration(width: 1024, heads: 16, layers: 24, mlpWidth: 4096)

        /// Blocks that run ("penultimate": all but the last).
        public var layersRun: Int { max(layers - 1, 0) }
    }

    public let configuration: Configuration
    public let context: ComputeContext
    /// `[vocab, width]` as stored (any float dtype; rows are converted when looked up).
    public let tokenEmbedding: TensorData
    public let positionalEmbedding: Tensor
    public let blocks: [CLIPResidualBlock]
    public let lnFinal: LayerNorm

    /// `parameters` scoped at `cond_stage_model.model`. Only the blocks that run are loaded.
    public init(parameters: ParameterSource, configuration: Configuration = .vitH14,
                context: ComputeContext) throws {
        let c = configuration
        guard c.layers >= 1, c.width > 0, c.heads > 0, c.width % c.heads == 0 else {
            throw TensorError.invalidArgument("text encoder: invalid configuration \(c)")
        }
        self.configuration = c
        self.context = context
        tokenEmbedding = try parameters.tensor("token_embedding.weight", shape: [c.vocabSize, c.width])
        positionalEmbedding = try parameters.floats("positional_embedding", shape: [c.contextLength, c.width])
        let resblocks = parameters.scoped("transformer").scoped("resblocks")
        blocks = try (0..<c.layersRun).map { i in
            try CLIPResidualBlock(resblocks.scoped(String(i)), width: c.width, heads: c.heads,
                                  mlpWidth: c.mlpWidth, context: context)
        }
        lnFinal = try LayerNorm(parameters.scoped("ln_final"), width: c.width)
    }

    /// Token ids (one row of `contextLength` ids per prompt, as the tokenizer makes them) →
    /// `[N, contextLength, width]`. `tap` sees "embed", "block0", "block1", … and "out".
    public func encode(tokens: [[Int32]], tap: ((String, Tensor) -> Void)? = nil) throws -> Tensor {
        var x = try embed(tokens: tokens)
        tap?("embed", x)
        for (i, block) in blocks.enumerated() {
            x = try block(x, causal: true, context: context)
            tap?("block\(i)", x)
        }
        let out = try lnFinal(x)
        tap?("out", out)
        return out
    }

    /// `token_embedding[ids] + positional_embedding`, `[N, contextLength, width]`.
    public func embed(tokens: [[Int32]]) throws -> Tensor {
        let c = configuration
        let n = tokens.count
        var x = Tensor(zeros: [n, c.contextLength, c.width])
        let rowBytes = c.width * tokenEmbedding.dtype.byteSize
        for (b, row) in tokens.enumerated() {
            guard row.count == c.contextLength else {
                throw TensorError.invalidArgument("text encoder: prompt \(b) has \(row.count) tokens, expected \(c.contextLength)")
            }
            for (t, id) in row.enumerated() {
                guard id >= 0, Int(id) < c.vocabSize else {
                    throw TensorError.invalidArgument("text encoder: token id \(id) of prompt \(b) outside the vocabulary of \(c.vocabSize)")
                }
                let embedding = try TensorData(dtype: tokenEmbedding.dtype, shape: [c.width],
                                               storage: tokenEmbedding.storage,
                                               byteOffset: tokenEmbedding.byteOffset + Int(id) * rowBytes).toTensor()
                let offset = (b * c.contextLength + t) * c.width
                embedding.withUnsafeBufferPointer { e in
                    positionalEmbedding.withUnsafeBufferPointer { p in
                        x.withUnsafeMutableBufferPointer { dst in
                            for j in 0..<c.width { dst[offset + j] = e[j] + p[t * c.width + j] }
                        }
                    }
                }
            }
        }
        return x
    }
}
