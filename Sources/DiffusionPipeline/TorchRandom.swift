import Foundation
import TensorCore
import TensorStorage

/// PyTorch's CPU random stream: `torch.manual_seed(seed)` (or `torch.Generator().manual_seed`)
/// followed by `torch.randn`, `torch.rand` and `torch.randint`, reproduced value for value.
///
/// What PyTorch does (ATen `CPUGeneratorImpl`, `DistributionsHelper.h`, `TransformationHelper.h`,
/// `native/cpu/DistributionTemplates.h`):
/// * the engine is MT19937 seeded with the low 32 bits of the 64-bit seed; `random()` is one
///   output, `random64()` two (first one high);
/// * float uniforms are `(random() & 0xFFFFFF)·2⁻²⁴`, double uniforms `(random64() & (2⁵³−1))·2⁻⁵³`;
/// * `randn` of a contiguous float32 tensor with ≥ 16 elements draws one float uniform per
///   element, then Box–Muller in blocks of 16 (element j with j + 8); when the count is not a
///   multiple of 16 it draws 16 fresh uniforms for the last 16 elements and transforms them again
///   (so such a call consumes count + 16 outputs). See `TorchNormalKernel` for the two kernels;
/// * with fewer than 16 elements, each element is `at::normal_distribution<double>`: two double
///   uniforms u1, u2, `r = √(−2·log1p(−u2))`, θ = 2π·u1, returns `r·cos θ` and caches `r·sin θ`
///   for the next such draw. The cache lives in the generator until the next `manual_seed`, across
///   any number of large `randn` calls in between, exactly as in PyTorch.
///
/// A value type: copying a `TorchRandom` forks the stream.
public struct TorchRandom: NoiseSource, Sendable, Equatable {
    /// The seed last set (`initial_seed()`).
    public private(set) var seed: UInt64
    /// The Box–Muller kernel used for tensors of ≥ 16 elements.
    public var normalKernel: TorchNormalKernel
    private var engine: TorchMT19937
    private var cachedNormal: Double?

    /// `torch.manual_seed(seed)` on a fresh CPU generator.
    public init(seed: UInt64, normalKernel: TorchNormalKernel = .platformDefault) {
        self.seed = seed
        self.normalKernel = normalKernel
        engine = TorchMT19937(seed: seed)
        cachedNormal = nil
    }

    /// A negative Python seed, as torch accepts it (two's complement: −1 is 2⁶⁴ − 1).
    public init(signedSeed seed: Int64, normalKernel: TorchNormalKernel = .platformDefault) {
        self.init(seed: UInt64(bitPattern: seed), normalKernel: normalKernel)
    }

    /// `manual_seed(seed)`: restarts the stream and clears the cached normal.
    public mutating func manualSeed(_ seed: UInt64) {
        self = TorchRandom(seed: seed, normalKernel: normalKernel)
    }

    // MARK: Raw draws

    /// `random()`: one 32-bit output.
    public mutating func nextUInt32() -> UInt32 { engine.nextUInt32() }

    /// `random64()`: two outputs, the first in the high half.
    public mutating func nextUInt64() -> UInt64 {
        let high = UInt64(engine.nextUInt32())
        return high << 32 | UInt64(engine.nextUInt32())
    }

    /// `uniform_real_distribution<float>(0, 1)`: 24 random bits · 2⁻²⁴, in [0, 1).
    public mutating func nextUniformFloat() -> Float {
        Float(nextUInt32() & 0xFF_FFFF) * 0x1p-24
    }

    /// `uniform_real_distribution<double>(0, 1)`: 53 random bits · 2⁻⁵³, in [0, 1).
    public mutating func nextUniformDouble() -> Double {
        Double(nextUInt64() & (1 << 53 - 1)) * 0x1p-53
    }

    /// `at::normal_distribution<double>(mean, std)`: Box–Muller on two double uniforms with the
    /// second value cached for the next call.
    public mutating func nextNormalDouble(mean: Double = 0, std: Double = 1) -> Double {
        if let cached = cachedNormal {
            cachedNormal = nil
            return combine(cached, mean: mean, std: std)
        }
        let u1 = nextUniformDouble()
        let u2 = nextUniformDouble()
        let radius = (-2.0 * Foundation.log1p(-u2)).squareRoot()
        let theta = 2.0 * Double.pi * u1
        cachedNormal = radius * Foundation.sin(theta)
        return combine(radius * Foundation.cos(theta), mean: mean, std: std)
    }

    /// `val·std + mean`; the AVX2 build of PyTorch contracts it into a fused multiply-add.
    private func combine(_ value: Double, mean: Double, std: Double) -> Double {
        normalKernel == .avx2 ? mean.addingProduct(value, std) : value * std + mean
    }

    // MARK: Tensors

    /// `torch.randn(shape)` (float32, contiguous).
    public mutating func randn(_ shape: [Int]) -> Tensor {
        Tensor(shape: shape) { fillNormal($0) }
    }

    /// `torch.rand(shape)` (float32): one float uniform per element.
    public mutating func rand(_ shape: [Int]) -> Tensor {
        Tensor(shape: shape) { buffer in
            for i in buffer.indices { buffer[i] = nextUniformFloat() }
        }
    }

    /// `torch.randint(low, high, (count,))` (int64): `random() % (high − low) + low` while the range
    /// is below 2³², `random64() % range + low` otherwise.
    public mutating func randint(low: Int64, high: Int64, count: Int) -> [Int64] {
        precondition(high > low, "randint needs high > low")
        let range = UInt64(bitPattern: high &- low)
        return (0..<count).map { _ in
            let r = range >= 1 << 32 ? nextUInt64() : UInt64(nextUInt32())
            return Int64(bitPattern: r % range) &+ low
        }
    }

    /// `tensor.normal_(mean, std)` on a contiguous float32 buffer (`randn` is mean 0, std 1).
    public mutating func fillNormal(_ buffer: UnsafeMutableBufferPointer<Float>, mean: Float = 0, std: Float = 1) {
        let count = buffer.count
        guard count > 0, let base = buffer.baseAddress else { return }
        guard count >= 16 else {
            for i in 0..<count { buffer[i] = Float(nextNormalDouble(mean: Double(mean), std: Double(std))) }
            return
        }
        fillUniformFloats(buffer)
        var i = 0
        while i + 16 <= count {
            TorchBoxMuller.fill16(base + i, kernel: normalKernel, mean: mean, std: std)
            i += 16
        }
        if count % 16 != 0 {
            let tail = UnsafeMutableBufferPointer(rebasing: buffer[(count - 16)...])
            fillUniformFloats(tail)
            TorchBoxMuller.fill16(base + count - 16, kernel: normalKernel, mean: mean, std: std)
        }
    }

    /// `NoiseSource`: one `torch.randn(shape)`.
    public mutating func fillStandardNormal(_ buffer: UnsafeMutableBufferPointer<Float>, shape: [Int]) throws {
        fillNormal(buffer)
    }

    private mutating func fillUniformFloats(_ buffer: UnsafeMutableBufferPointer<Float>) {
        // Draw the words into the same memory, then convert in place.
        buffer.withMemoryRebound(to: UInt32.self) { words in
            engine.fill(words)
            for i in words.indices { words[i] = (Float(words[i] & 0xFF_FFFF) * 0x1p-24).bitPattern }
        }
    }
}
