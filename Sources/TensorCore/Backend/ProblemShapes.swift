import TensorStorage

/// Shape checks shared by every backend, so that all of them reject the same inputs with the
/// same messages.
public struct MatmulProblem: Sendable, Equatable {
    public let batch: Int, m: Int, n: Int, k: Int
    public let outputShape: [Int]

    public init(_ a: [Int], _ b: [Int], transposeA: Bool, transposeB: Bool) throws {
        guard a.count >= 2, b.count >= 2 else {
            throw TensorError.shapeMismatch("matmul needs rank ≥ 2 operands, got \(Shape.describe(a)) and \(Shape.describe(b))")
        }
        let batchA = Array(a.dropLast(2)), batchB = Array(b.dropLast(2))
        guard batchA == batchB else {
            throw TensorError.shapeMismatch("matmul batch dimensions differ: \(Shape.describe(a)) and \(Shape.describe(b))")
        }
        let (am, ak) = transposeA ? (a[a.count - 1], a[a.count - 2]) : (a[a.count - 2], a[a.count - 1])
        let (bk, bn) = transposeB ? (b[b.count - 1], b[b.count - 2]) : (b[b.count - 2], b[b.count - 1])
        guard ak == bk else {
            throw TensorError.shapeMismatch("matmul inner dimensions differ: \(Shape.describe(a))\(transposeA ? "ᵀ" : "") × \(Shape.describe(b))\(transposeB ? "ᵀ" : "")")
        }
        batch = batchA.reduce(1, *); m = am; n = bn; k = ak
        outputShape = batchA + [am, bn]
    }
}

/// Shapes of a Linear weight and bias.
public struct LinearShapes: Sendable {
    public let outFeatures: Int, inFeatures: Int

    public init(weight: TensorData, bias: TensorData?) throws {
        guard weight.shape.count == 2, weight.dtype.isFloatingPoint else {
            throw TensorError.shapeMismatch("linear weight must be a float [out, in] matrix, got \(weight.dtype.rawValue) \(Shape.describe(weight.shape))")
        }
        outFeatures = weight.shape[0]; inFeatures = weight.shape[1]
        if let bias, bias.shape != [outFeatures] || !bias.dtype.isFloatingPoint {
            throw TensorError.shapeMismatch("linear bias must be [\(outFeatures)], got \(bias.dtype.rawValue) \(Shape.describe(bias.shape))")
        }
    }
}

/// Shapes of a convolution weight and bias, and of its input.
public struct ConvShapes: Sendable {
    public let outChannels: Int, inChannels: Int

    public init(weight: TensorData, bias: TensorData?, geometry: Conv2dGeometry) throws {
        guard weight.shape.count == 4, weight.dtype.isFloatingPoint,
              weight.shape[2] == geometry.kernelH, weight.shape[3] == geometry.kernelW else {
            throw TensorError.shapeMismatch("conv weight must be a float [out, in, \(geometry.kernelH), \(geometry.kernelW)] tensor, got \(weight.dtype.rawValue) \(Shape.describe(weight.shape))")
        }
        guard geometry.strideH > 0, geometry.strideW > 0,
              [geometry.padTop, geometry.padBottom, geometry.padLeft, geometry.padRight].allSatisfy({ $0 >= 0 }) else {
            throw TensorError.invalidArgument("conv geometry \(geometry) has a non-positive stride or a negative padding")
        }
        outChannels = weight.shape[0]; inChannels = weight.shape[1]
        if let bias, bias.shape != [outChannels] || !bias.dtype.isFloatingPoint {
            throw TensorError.shapeMismatch("conv bias must be [\(outChannels)], got \(bias.dtype.rawValue) \(Shape.describe(bias.shape))")
        }
    }

    /// Checks a channels-last input `[N, H, W, C]`; returns (n, h, w, ho, wo).
    public static func check(input: [Int], inChannels: Int, geometry: Conv2dGeometry) throws
        -> (n: Int, h: Int, w: Int, ho: Int, wo: Int) {
        guard input.count == 4, input[3] == inChannels else {
            throw TensorError.shapeMismatch("conv expects channels-last [N, H, W, \(inChannels)], got \(Shape.describe(input))")
        }
        guard let (ho, wo) = geometry.outputSize(height: input[1], width: input[2]), ho > 0, wo > 0 else {
            throw TensorError.shapeMismatch("conv kernel \(geometry) does not fit input \(Shape.describe(input))")
        }
        return (input[0], input[1], input[2], ho, wo)
    }
}

/// Shapes of an attention call.
public struct AttentionProblem: Sendable {
    public let batch: Int, queryLength: Int, keyLength: Int, heads: Int, headDim: Int

    public init(q: [Int], k: [Int], v: [Int], heads: Int) throws {
        guard q.count == 3, k.count == 3, v.count == 3 else {
            throw TensorError.shapeMismatch("attention expects [batch, length, heads·d] operands, got \(Shape.describe(q)), \(Shape.describe(k)), \(Shape.describe(v))")
        }
        guard heads > 0, q[2] % heads == 0, q[2] > 0 else {
            throw TensorError.invalidArgument("attention width \(q[2]) is not a positive multiple of \(heads) heads")
        }
        guard k == v, k[0] == q[0], k[2] == q[2] else {
            throw TensorError.shapeMismatch("attention operands disagree: q \(Shape.describe(q)), k \(Shape.describe(k)), v \(Shape.describe(v))")
        }
        guard k[1] > 0 else { throw TensorError.shapeMismatch("attention over zero keys") }
        batch = q[0]; queryLength = q[1]; keyLength = k[1]
        self.heads = heads; headDim = q[2] / heads
    }
}
