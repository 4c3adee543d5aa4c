import Foundation
import Testing
import TestingSupport

/// `dynamicrafter bench` is where the kernels are timed (the tests time nothing): this only
/// checks that a group runs at its real sizes and reports every kernel, whatever the figures.
@Suite struct BenchCommandTests {
    @Test("bench --kernels elementwise reports every memory-bound kernel")
    func elementwiseGroup() throws {
        let result = try CLIRunner.run(["bench", "--backend", "openblas", "--quick", "--repeats", "1", "--kernels", "elementwise"],
                                       timeout: .seconds(600))
        #expect(result.status == 0, "\(result.stderr)")
        let kernels = [
            "groupnorm 2x16384x320 (frames joint)", "silu 32x1024x320", "gelu 32x1024x320", "silu in place 32x1024x320",
            "gelu in place 32x1024x320", "allocate + first touch 42 MB", "softmax 5120x1024",
            "residual add in place 32x1024x320", "NCHW->NHWC 32x320x32x32", "frames<->positions 2x16x1024x320",
            "upsample nearest 2x 32x32x32x320",
        ]
        let rows = result.stdout.split(separator: "\n")
        for kernel in kernels {
            #expect(rows.contains { $0.hasPrefix(kernel) && $0.contains(" GB/s") }, "no row for \(kernel):\n\(result.stdout)")
        }
        // Only the chosen group: no convolution or attention rows.
        #expect(!result.stdout.contains("conv3x3") && !result.stdout.contains("attention"))
    }
}
