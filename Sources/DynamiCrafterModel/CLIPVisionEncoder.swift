import TensorCore
import TensorStorage

/// The OpenCLIP ViT as DynamiCrafter's `FrozenOpenCLIPImageEmbedderV2` runs it: patchify with
/// `conv1` (kernel = stride = patch, no bias), prepend `class_embedding`, add
/// `positional_embedding`, `ln_pre`, then every residual block without a mask. The output is the
/// last block's output for all `1 + grid²` tokens (`ln_post` and `proj` are not used).
public struct CLIPVisionEncoder: Sendable {
    public struct Configuration: Sendable, Hashable, Codable {
        public var width: Int
        public var heads: Int
        public var layers: Int
        public var mlpWidth: Int
        public var patchSize: Int
        public var imageSize: Int

        public init(width: Int, heads: Int, layers: Int, mlpWidth: Int? = nil,
                    patchSize: Int, imageSize: Int = 224) {
            self.width = width; self.heads = heads; self.layers = layers
            self.mlpWidth = mlpWidth ?? 4 * width
            self.patchSize = patchSize; self.imageSize = imageSize
        }

        /// OpenCLIP ViT-H-14's vision tower: patch 14, width 1280, 32 blocks, 16 heads of 80.
        public static let vitH14 = Configuration(width: 1280, heads: 16, layers: 32, mlpWidth: 5120, patchSize: 14)

        public var grid: Int { imageSize / patchSize }
        /// `1 + grid²`.
        public var tokenCount: Int { 1 + grid * grid }
    }

    public let configuration: Configuration
    public let context: ComputeContext
    public let patchEmbedding: any Conv2dOperator
    public let classEmbedding: Tensor
    public let positionalEmbedding: Tensor
    public let lnPre: LayerNorm
    public let blocks: [CLIPResidualBlock]

    /// `parameters` scoped at `embedder.model.visual`.
    public init(parameters: ParameterSource, configuration: Configuration = .vitH14,
                context: ComputeContext) throws {
        let c = configuration
        guard c.layers >= 0, c.width > 0, c.heads > 0, c.width % c.heads == 0, c.patchSize > 0,
              c.imageSize % c.patchSize == 0 else {
            throw TensorError.invalidArgument("vision encoder: invalid configuration \(c)")
        }
        self.configuration = c
        self.context = context
        let w = try parameters.tensor("conv1.weight", shape: [c.width, 3, c.patchSize, c.patchSize])
        patchEmbedding = try context.backend.makeConv2d(weight: w, bias: nil,
                                                        geometry: .square(c.patchSize, stride: c.patchSize),
                                                        precision: context.precision, algorithm: .auto)
        classEmbedding = try parameters.floats("class_embedding", shape: [c.width])
        positionalEmbedding = try parameters.floats("positional_embedding", shape: [c.tokenCount, c.width])
        lnPre = try LayerNorm(parameters.scoped("ln_pre"), width: c.width)
        let resblocks = parameters.scoped("transformer").scoped("resblocks")
        blocks = try (0..<c.layers).map { i in
            try CLIPResidualBlock(resblocks.scoped(String(i)), width: c.width, heads: c.heads,
                                  mlpWidth: c.mlpWidth, context: context)
        }
    }

    /// The CLIP-preprocessed images `[N, 3, imageSize, imageSize]` (NCHW, as
    /// `ImagePreprocessing.clipPreprocess` returns them) → tokens `[N, 1 + grid², width]`.
    /// `tap` sees "ln_pre", "block0", "block1", ….
    public func encode(_ images: Tensor, tap: ((String, Tensor) -> Void)? = nil) throws -> Tensor {
        let c = configuration
        guard images.rank == 4, images.shape[1] == 3, images.shape[2] == c.imageSize, images.shape[3] == c.imageSize else {
            throw TensorError.shapeMismatch("vision encoder: expected [N, 3, \(c.imageSize), \(c.imageSize)], got \(Shape.describe(images.shape))")
        }
        let n = images.shape[0]
        let patches = try patchEmbedding.callAsFunction(Layout.nchwToNHWC(images))   // [N, g, g, W]
        let g2 = c.grid * c.grid
        let grid = try patches.reshaped([n, g2, c.width])
        // [class; patches] + positional, per image.
        var x = Tensor(zeros: [n, c.tokenCount, c.width])
        let tokens = c.tokenCount, width = c.width
        grid.withUnsafeBufferPointer { pg in
            classEmbedding.withUnsafeBufferPointer { pc in
                positionalEmbedding.withUnsafeBufferPointer { pp in
                    x.withUnsafeMutableBufferPointer { px in
                        for b in 0..<n {
                            for t in 0..<tokens {
                                let dst = (b * tokens + t) * width
                                for j in 0..<width {
                                    let v = t == 0 ? pc[j] : pg[(b * g2 + t - 1) * width + j]
                                    px[dst + j] = v + pp[t * width + j]
                                }
                            }
                        }
                    }
                }
            }
        }
        x = try lnPre(x)
        tap?("ln_pre", x)
        for (i, block) in blocks.enumerated() {
            x = try block(x, causal: false, context: context)
            tap?("block\(i)", x)
        }
        return x
    }
}
