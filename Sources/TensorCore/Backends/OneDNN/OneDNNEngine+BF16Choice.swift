import CDNNL
import Foundation
import Synchronization
import TensorStorage

/// Which bf16 path runs a bf16 model's weights here, decided once per process by timing both.
///
/// oneDNN's native bf16 matmul doubles fp32's rate where the CPU issues bf16 dot products at
/// full width (AMD Zen 4/5), but runs at half of it on Intel CPUs without AMX (one port) and
/// does not exist on AVX2-only CPUs (shared/PERF.md; only the AVX2 case was seen by this code). Widening bf16-resident weights into fp32 kernels costs one
/// pass over each layer's weights per call. So the engine times a UNet-sized matmul both ways
/// and takes native bf16 only where it is actually faster.
enum OneDNNBF16Choice {
    private static let decided = Mutex<Bool?>(nil)

    /// Whether bf16 weights should run on oneDNN's native bf16 kernels on this machine.
    static func nativeIsFaster(_ engine: OneDNNEngine) -> Bool {
        guard engine.nativeBF16 else { return false }
        if let forced = ProcessInfo.processInfo.environment["DYNAMICRAFTER_BF16_KERNELS"] {
            return forced == "native"
        }
        return decided.withLock { choice in
            if let choice { return choice }
            let measured = (try? measure(engine)) ?? false
            choice = measured
            return measured
        }
    }

    /// Times a 1024×1280 · 1280×1280 matmul (a UNet middle-block Linear) with bf16 operands
    /// against fp32; best of three each, after one warm-up.
    private static func measure(_ engine: OneDNNEngine) throws -> Bool {
        let (m, k, n) = (1024, 1280, 1280)
        var weight = Tensor(zeros: [n, k])
        weight.withUnsafeMutableBufferPointer { p in for i in p.indices { p[i] = Float(i % 13) * 0.01 - 0.06 } }
        let data = TensorData(weight)
        let x = Tensor(shape: [m, k], repeating: 0.5)
        func best(_ precision: Precision, native: Bool) throws -> Double {
            let op = try OneDNNLinear(engine: engine, weight: data, bias: nil, precision: precision, nativeBF16: native)
            _ = try op(x)
            var times: [Double] = []
            for _ in 0..<3 {
                let start = DispatchTime.now().uptimeNanoseconds
                _ = try op(x)
                times.append(Double(DispatchTime.now().uptimeNanoseconds - start))
            }
            return times.min() ?? .infinity
        }
        let native = try best(.bf16, native: true)
        let widened = try best(.bf16, native: false)
        return native < widened
    }
}
