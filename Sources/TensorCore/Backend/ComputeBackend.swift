import TensorStorage

/// Arithmetic precision of the dense work.
///
/// `f32` is exact to the reference (fp32 accumulation of fp32 products). `bf16` rounds both
/// operands to bfloat16 and accumulates in fp32: about 2–3e-3 relative error per matmul or
/// convolution, so it is opt-in and documented as approximate. Where the CPU has no bf16 dot
/// products the backends emulate it (round, then fp32 GEMM): the same numbers, no speed-up.
public enum Precision: String, Sendable, CaseIterable, Codable {
    case f32
    case bf16
}

/// Which implementation runs the dense work.
public enum BackendKind: String, Sendable, CaseIterable, Codable {
    /// oneDNN (Debian's libdnnl): packed-weight matmul, direct and Winograd convolution, bf16.
    case onednn
    /// OpenBLAS `cblas_sgemm`, convolution as im2col + GEMM. Portable baseline.
    case openblas
    /// Plain loops: slow, obviously correct, the yardstick the tests compare the others with.
    case reference
}

/// How a 3×3 convolution is computed. `auto` takes Winograd where the backend has it and it
/// pays, direct otherwise.
public enum ConvAlgorithm: String, Sendable, CaseIterable, Codable {
    case auto
    case direct
    case winograd
}

/// Geometry of a 2-D convolution. Padding is per side because the VAE's downsampling pads only
/// the right and bottom edges.
public struct Conv2dGeometry: Sendable, Hashable, CustomStringConvertible {
    public var kernelH: Int
    public var kernelW: Int
    public var strideH: Int
    public var strideW: Int
    public var padTop: Int
    public var padBottom: Int
    public var padLeft: Int
    public var padRight: Int

    public init(kernelH: Int, kernelW: Int, strideH: Int = 1, strideW: Int = 1,
                padTop: Int = 0, padBottom: Int = 0, padLeft: Int = 0, padRight: Int = 0) {
        self.kernelH = kernelH; self.kernelW = kernelW
        self.strideH = strideH; self.strideW = strideW
        self.padTop = padTop; self.padBottom = padBottom
        self.padLeft = padLeft; self.padRight = padRight
    }

    /// A square kernel with symmetric padding, PyTorch's `Conv2d(k, stride, padding)`.
    public static func square(_ k: Int, stride: Int = 1, padding: Int = 0) -> Conv2dGeometry {
        Conv2dGeometry(kernelH: k, kernelW: k, strideH: stride, strideW: stride,
                       padTop: padding, padBottom: padding, padLeft: padding, padRight: padding)
    }

    /// The temporal convolution of the UNet's ResBlocks: Conv3d kernel (3,1,1), padding (1,0,0),
    /// run on channels-last activations viewed as [batch, frames, h·w, C].
    public static let temporal3 = Conv2dGeometry(kernelH: 3, kernelW: 1, padTop: 1, padBottom: 1)

    /// Output spatial size for an input of h×w; nil when the kernel does not fit.
    public func outputSize(height h: Int, width w: Int) -> (height: Int, width: Int)? {
        let hp = h + padTop + padBottom - kernelH
        let wp = w + padLeft + padRight - kernelW
        guard hp >= 0, wp >= 0, strideH > 0, strideW > 0 else { return nil }
        return (hp / strideH + 1, wp / strideW + 1)
    }

    public var description: String {
        "\(kernelH)x\(kernelW)/s\(strideH),\(strideW) pad t\(padTop) b\(padBottom) l\(padLeft) r\(padRight)"
    }
}

/// A Linear layer with its weight packed once for the backend. Input `[..., in]`, output
/// `[..., out]`; the weight is PyTorch's `[out, in]`.
public protocol LinearOperator: Sendable {
    var inFeatures: Int { get }
    var outFeatures: Int { get }
    func callAsFunction(_ x: Tensor) throws -> Tensor
    /// A residual connection: `residual[firstRow + i] += self(x)[i]` for every row i of x.
    /// `residual` is any shape ending in `outFeatures` (its rows counted over the other
    /// dimensions). Backends that can add while they write (oneDNN's sum post-op) save the
    /// separate pass over memory.
    func callAsFunction(_ x: Tensor, addingTo residual: inout Tensor, atRow firstRow: Int) throws
}

extension LinearOperator {
    /// `residual ← residual + self(x)`, residual holding exactly the output's rows.
    public func callAsFunction(_ x: Tensor, addingTo residual: inout Tensor) throws {
        let rows = x.count / max(inFeatures, 1)
        try ResidualShapes.check(residual.shape, rows: rows, channels: outFeatures)
        try callAsFunction(x, addingTo: &residual, atRow: 0)
    }

    public func callAsFunction(_ x: Tensor, addingTo residual: inout Tensor, atRow firstRow: Int) throws {
        let y = try callAsFunction(x)
        let rows = y.count / max(outFeatures, 1)
        try ResidualShapes.check(residual.shape, rows: rows, channels: outFeatures, atRow: firstRow)
        try Kernels.addInPlace(&residual, y, atElement: firstRow * outFeatures)
    }
}

/// A 2-D convolution with its weight packed once. Input and output are channels-last:
/// `[N, H, W, Cin]` → `[N, Ho, Wo, Cout]`; the weight is PyTorch's `[out, in, kh, kw]`.
public protocol Conv2dOperator: Sendable {
    var inChannels: Int { get }
    var outChannels: Int { get }
    var geometry: Conv2dGeometry { get }
    /// The algorithm actually used (after `auto` and any run-time fallback).
    var algorithm: ConvAlgorithm { get }
    func callAsFunction(_ x: Tensor) throws -> Tensor
    /// A residual connection: `residual ← residual + self(x)`; `residual` has the output's
    /// shape `[N, Ho, Wo, Cout]` (or any shape of as many pixels ending in `Cout`).
    func callAsFunction(_ x: Tensor, addingTo residual: inout Tensor) throws
}

extension Conv2dOperator {
    public func callAsFunction(_ x: Tensor, addingTo residual: inout Tensor) throws {
        let y = try callAsFunction(x)
        try ResidualShapes.check(residual.shape, rows: y.count / max(outChannels, 1), channels: outChannels)
        try Kernels.addInPlace(&residual, y.reshaped(residual.shape))
    }
}

/// The check every `addingTo:` makes: the residual holds `rows × channels` values, channels last.
enum ResidualShapes {
    static func check(_ shape: [Int], rows: Int, channels: Int) throws {
        guard shape.last == channels, Shape.elementCount(shape) == rows * channels else {
            throw TensorError.shapeMismatch("residual \(Shape.describe(shape)) does not hold \(rows) rows of \(channels)")
        }
    }

    /// Rows `firstRow ..< firstRow + rows` exist in a residual of `channels` per row.
    static func check(_ shape: [Int], rows: Int, channels: Int, atRow firstRow: Int) throws {
        guard firstRow >= 0, shape.last == channels, let total = Shape.elementCount(shape),
              (firstRow + rows) * channels <= total else {
            throw TensorError.shapeMismatch("residual \(Shape.describe(shape)) has no rows \(firstRow)..<\(firstRow + rows) of \(channels)")
        }
    }
}

/// The seam between the model and the libraries that do its dense linear algebra. Everything
/// else (norms, activations, softmax, resampling) is plain Swift in `Kernels`, shared by all
/// backends.
public protocol ComputeBackend: Sendable {
    var kind: BackendKind { get }
    /// Library, version and the CPU path it picked, for logs and benchmarks.
    var summary: String { get }
    /// Whether the CPU runs bf16 dot products natively here (otherwise bf16 is emulated).
    var nativeBF16: Bool { get }
    /// Whether bf16 models run on bf16 kernels here (native and measured faster than fp32
    /// kernels over widened weights); false where bf16 is only a storage format.
    var runsBF16Natively: Bool { get }

    /// Packs a Linear weight `[out, in]` (f32, f16 or bf16) and optional bias `[out]`.
    func makeLinear(weight: TensorData, bias: TensorData?, precision: Precision) throws -> any LinearOperator

    /// Packs a convolution weight `[out, in, kh, kw]` and optional bias `[out]`.
    func makeConv2d(weight: TensorData, bias: TensorData?, geometry: Conv2dGeometry,
                    precision: Precision, algorithm: ConvAlgorithm) throws -> any Conv2dOperator

    /// Batched matmul of activations: `a` is `[batch, m, k]` (`[batch, k, m]` when `transposeA`),
    /// `b` is `[batch, k, n]` (`[batch, n, k]` when `transposeB`); the result is
    /// `alpha · a·b`, `[batch, m, n]`. Rank-2 operands are a batch of one.
    func matmul(_ a: Tensor, _ b: Tensor, transposeA: Bool, transposeB: Bool,
                alpha: Float, precision: Precision) throws -> Tensor

    /// Scaled-dot-product attention. `q` is `[batch, lq, heads·d]`, `k` and `v` are
    /// `[batch, lk, heads·d]` (the layout Linear layers produce; head h owns channels
    /// h·d ..< (h+1)·d). Returns `softmax(q·kᵀ·scale)·v` as `[batch, lq, heads·d]`, without ever
    /// holding the whole `lq × lk` score matrix for long sequences.
    func attention(q: Tensor, k: Tensor, v: Tensor, heads: Int, scale: Float,
                   precision: Precision) throws -> Tensor
}

extension ComputeBackend {
    public var runsBF16Natively: Bool { false }

    public func matmul(_ a: Tensor, _ b: Tensor, transposeA: Bool = false, transposeB: Bool = false) throws -> Tensor {
        try matmul(a, b, transposeA: transposeA, transposeB: transposeB, alpha: 1, precision: .f32)
    }
}
