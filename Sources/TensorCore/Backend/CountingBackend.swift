import Synchronization
import TensorStorage
#if canImport(Glibc)
import Glibc
#endif

/// A dense operation as a `CountingBackend` records it: its kind, and for convolutions the
/// kernel geometry (`3x3/s1`, `3x1/s1`, `1x1/s1`, …), since a 3×3 and a 1×1 convolution run
/// at very different rates.
public struct CountedOperation: Sendable, Hashable, Comparable, CustomStringConvertible {
    public enum Kind: String, Sendable, CaseIterable, Comparable {
        case linear, conv2d, matmul, attention

        private var order: Int {
            switch self {
            case .linear: 0
            case .conv2d: 1
            case .matmul: 2
            case .attention: 3
            }
        }

        public static func < (a: Kind, b: Kind) -> Bool { a.order < b.order }
    }

    public let kind: Kind
    /// Empty except for convolutions.
    public let detail: String

    public init(_ kind: Kind, detail: String = "") {
        self.kind = kind
        self.detail = detail
    }

    public static func < (a: CountedOperation, b: CountedOperation) -> Bool {
        a.kind != b.kind ? a.kind < b.kind : a.detail < b.detail
    }

    public var description: String { detail.isEmpty ? kind.rawValue : "\(kind.rawValue) \(detail)" }
}

/// Calls, floating-point operations and wall time of one kind of operation.
public struct OperationTally: Sendable, Equatable {
    public var calls: Int
    /// Multiply-adds count 2; bias adds, softmax and the like are not counted.
    public var flops: Int
    public var seconds: Double

    public init(calls: Int = 0, flops: Int = 0, seconds: Double = 0) {
        self.calls = calls
        self.flops = flops
        self.seconds = seconds
    }

    public static func + (a: OperationTally, b: OperationTally) -> OperationTally {
        OperationTally(calls: a.calls + b.calls, flops: a.flops + b.flops, seconds: a.seconds + b.seconds)
    }
}

/// What a `FLOPCounter` saw, per operation.
public struct FLOPTally: Sendable, Equatable {
    public var operations: [CountedOperation: OperationTally]

    public init(operations: [CountedOperation: OperationTally] = [:]) {
        self.operations = operations
    }

    /// Everything together.
    public var total: OperationTally { operations.values.reduce(OperationTally(), +) }

    /// Summed over the details of each kind.
    public var byKind: [CountedOperation.Kind: OperationTally] {
        var out: [CountedOperation.Kind: OperationTally] = [:]
        for (op, t) in operations { out[op.kind, default: OperationTally()] = out[op.kind, default: OperationTally()] + t }
        return out
    }

    /// The same tally without the wall times (for comparing the work of two runs).
    public var work: [CountedOperation: Int] { operations.mapValues(\.flops) }
}

/// Accumulates what the operators of a `CountingBackend` do; shared by every operator it made,
/// from any thread.
public final class FLOPCounter: Sendable {
    private let state = Mutex(FLOPTally())

    public init() {}

    public func record(_ operation: CountedOperation, flops: Int, seconds: Double) {
        state.withLock { tally in
            var t = tally.operations[operation, default: OperationTally()]
            t.calls += 1
            t.flops += flops
            t.seconds += seconds
            tally.operations[operation] = t
        }
    }

    /// What was recorded so far.
    public func snapshot() -> FLOPTally { state.withLock { $0 } }

    public func reset() { state.withLock { $0 = FLOPTally() } }

    /// What was recorded so far, then starts again from zero.
    public func take() -> FLOPTally {
        state.withLock { tally in
            let out = tally
            tally = FLOPTally()
            return out
        }
    }
}

/// A `ComputeBackend` that forwards every call to another and records the floating-point
/// operations (2 per multiply-add, from the shapes of each call) and the wall time of each:
/// Linear `2·rows·in·out`, convolution `2·N·Ho·Wo·Cout·Cin·kh·kw`, batched matmul `2·b·m·n·k`,
/// attention `2·b·lq·lk·(Cq + Cv)` (scores plus weighted sum). That is what PyTorch's
/// `FlopCounterMode` counts (mm, addmm, bmm, convolution), so the totals compare directly.
/// Not counted: bias adds, and everything the model runs outside the backend (norms,
/// activations, softmax inside attention, elementwise kernels, layout changes). Operator
/// creation (weight packing) is not timed.
///
/// The times are per call, measured around the forwarded call; they add up to the time spent
/// in the backend as long as the model calls it from one thread at a time (the blocks do).
public struct CountingBackend: ComputeBackend {
    public let base: any ComputeBackend
    public let counter: FLOPCounter

    public init(wrapping base: any ComputeBackend, counter: FLOPCounter = FLOPCounter()) {
        self.base = base
        self.counter = counter
    }

    public var kind: BackendKind { base.kind }
    public var summary: String { base.summary }
    public var nativeBF16: Bool { base.nativeBF16 }
    public var runsBF16Natively: Bool { base.runsBF16Natively }

    public func makeLinear(weight: TensorData, bias: TensorData?, precision: Precision) throws -> any LinearOperator {
        CountingLinear(base: try base.makeLinear(weight: weight, bias: bias, precision: precision), counter: counter)
    }

    public func makeConv2d(weight: TensorData, bias: TensorData?, geometry: Conv2dGeometry,
                           precision: Precision, algorithm: ConvAlgorithm) throws -> any Conv2dOperator {
        let op = try base.makeConv2d(weight: weight, bias: bias, geometry: geometry, precision: precision,
                                     algorithm: algorithm)
        return CountingConv2d(base: op, counter: counter)
    }

    public func matmul(_ a: Tensor, _ b: Tensor, transposeA: Bool, transposeB: Bool,
                       alpha: Float, precision: Precision) throws -> Tensor {
        let start = CountingClock.now()
        let out = try base.matmul(a, b, transposeA: transposeA, transposeB: transposeB, alpha: alpha,
                                  precision: precision)
        let seconds = CountingClock.now() - start
        // out is [batch, m, n] (or [m, n]); the shared dimension k comes from `a`.
        let k = transposeA ? a.shape[a.rank - 2] : a.shape[a.rank - 1]
        counter.record(CountedOperation(.matmul), flops: 2 * out.count * k, seconds: seconds)
        return out
    }

    public func attention(q: Tensor, k: Tensor, v: Tensor, heads: Int, scale: Float,
                          precision: Precision) throws -> Tensor {
        let start = CountingClock.now()
        let out = try base.attention(q: q, k: k, v: v, heads: heads, scale: scale, precision: precision)
        let seconds = CountingClock.now() - start
        // q [b, lq, Cq], k [b, lk, Cq], v [b, lk, Cv]: q·kᵀ is b·lq·lk·Cq multiply-adds, the
        // weighted sum b·lq·lk·Cv.
        let batch = q.shape[0], lq = q.shape[1], lk = k.shape[1]
        let flops = 2 * batch * lq * lk * (q.shape[2] + v.shape[2])
        counter.record(CountedOperation(.attention), flops: flops, seconds: seconds)
        return out
    }
}

/// A Linear operator that records `2·rows·in·out` per call.
struct CountingLinear: LinearOperator {
    let base: any LinearOperator
    let counter: FLOPCounter

    var inFeatures: Int { base.inFeatures }
    var outFeatures: Int { base.outFeatures }

    func callAsFunction(_ x: Tensor) throws -> Tensor {
        let start = CountingClock.now()
        let out = try base.callAsFunction(x)
        let seconds = CountingClock.now() - start
        let rows = inFeatures > 0 ? x.count / inFeatures : 0
        counter.record(CountedOperation(.linear), flops: 2 * rows * inFeatures * outFeatures, seconds: seconds)
        return out
    }

    func callAsFunction(_ x: Tensor, addingTo residual: inout Tensor, atRow firstRow: Int) throws {
        let start = CountingClock.now()
        try base.callAsFunction(x, addingTo: &residual, atRow: firstRow)
        let seconds = CountingClock.now() - start
        let rows = inFeatures > 0 ? x.count / inFeatures : 0
        counter.record(CountedOperation(.linear), flops: 2 * rows * inFeatures * outFeatures, seconds: seconds)
    }
}

/// A convolution operator that records `2·N·Ho·Wo·Cout·Cin·kh·kw` per call, from the shape of
/// the output it produced.
struct CountingConv2d: Conv2dOperator {
    let base: any Conv2dOperator
    let counter: FLOPCounter
    let operation: CountedOperation

    init(base: any Conv2dOperator, counter: FLOPCounter) {
        self.base = base
        self.counter = counter
        let g = base.geometry
        operation = CountedOperation(.conv2d, detail: "\(g.kernelH)x\(g.kernelW)/s\(g.strideH)")
    }

    var inChannels: Int { base.inChannels }
    var outChannels: Int { base.outChannels }
    var geometry: Conv2dGeometry { base.geometry }
    var algorithm: ConvAlgorithm { base.algorithm }

    func callAsFunction(_ x: Tensor) throws -> Tensor {
        let start = CountingClock.now()
        let out = try base.callAsFunction(x)
        let seconds = CountingClock.now() - start
        // out.count = N·Ho·Wo·Cout; each output element is Cin·kh·kw multiply-adds.
        let g = geometry
        counter.record(operation, flops: 2 * out.count * inChannels * g.kernelH * g.kernelW, seconds: seconds)
        return out
    }

    func callAsFunction(_ x: Tensor, addingTo residual: inout Tensor) throws {
        let start = CountingClock.now()
        try base.callAsFunction(x, addingTo: &residual)
        let seconds = CountingClock.now() - start
        let g = geometry
        counter.record(operation, flops: 2 * residual.count * inChannels * g.kernelH * g.kernelW, seconds: seconds)
    }
}

/// Monotonic seconds for the per-call timings.
enum CountingClock {
    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }
}
