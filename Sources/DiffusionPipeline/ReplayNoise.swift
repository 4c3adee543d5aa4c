import TensorCore
import TensorStorage

/// A noise source that hands out recorded values in order: a reference run's exported draws
/// (VAE posterior noise, x_T, per-step noise) replayed so a run reproduces it exactly. Draws may
/// split or join recorded tensors freely; only the order of values matters.
public struct ReplayNoise: NoiseSource, Sendable {
    private let values: [Float]
    public private(set) var position = 0

    public init(_ tensors: [Tensor]) {
        values = tensors.flatMap(\.scalars)
    }

    /// Values not yet handed out.
    public var remaining: Int { values.count - position }

    public mutating func fillStandardNormal(_ buffer: UnsafeMutableBufferPointer<Float>, shape: [Int]) throws {
        guard buffer.count <= remaining else {
            throw AnimationError.invalidInput("the recorded noise is exhausted: \(buffer.count) values asked, \(remaining) left")
        }
        for i in 0..<buffer.count { buffer[i] = values[position + i] }
        position += buffer.count
    }
}
