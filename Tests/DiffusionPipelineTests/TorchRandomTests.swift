import DiffusionPipeline
import Foundation
import TensorCore
import TensorStorage
import Testing

@Suite("TorchRandom reproduces PyTorch's CPU random stream")
struct TorchRandomTests {
    // MARK: Published values (4 decimals, as printed by torch)

    /// Values printed by PyTorch in public documents; each checked at the printed precision with
    /// both Box–Muller kernels.
    static let published: [(seed: UInt64, shape: [Int], values: [Float], source: String)] = [
        // numel 5 < 16: the float64 path. Printed in countless tutorials and issues, e.g. the
        // "torch.manual_seed(0); torch.randn(5)" reproducibility examples.
        (0, [5], [1.5410, -0.2934, -2.1788, 0.5684, -1.0845], "torch.manual_seed(0); torch.randn(5)"),
        // numel 6: float64 path. sprintchase.com/torch-randn, "Reproducibility with seed".
        (42, [2, 3], [0.3367, 0.1288, 0.2345, 0.2303, -1.1229, -0.1863], "sprintchase.com/torch-randn"),
        // numel 24 (16 + a recomputed tail of 16): karpathy/llm.c, doc/layernorm/layernorm.md
        // ("torch.manual_seed(42); B, T, C = 2, 3, 4; a = torch.randn(B, T, C)").
        (42, [2, 3, 4], [1.9269, 1.4873, 0.9007, -2.1055, 0.6784, -1.2345, -0.0431, -1.6047,
                         0.3559, -0.6866, -0.4934, 0.2415, -1.1109, 0.0915, -2.3169, -0.2168,
                         -0.3097, -0.3957, 0.8034, -0.6216, -0.5920, -0.0631, -0.8286, 0.3309],
         "karpathy/llm.c doc/layernorm/layernorm.md"),
        // numel 20: flashinfer-ai/flashinfer, flashinfer/sampling.py, docstring of
        // top_k_mask_logits ("torch.manual_seed(42); logits = torch.randn(4, 5).to(0)": drawn on
        // the CPU, then moved).
        (42, [4, 5], [1.9269, 1.4873, 0.9007, -2.1055, -0.7581, 1.0783, 0.8008, 1.6806, 0.3559, -0.6866,
                      -0.4934, 0.2415, -0.2316, 0.0418, -0.2516, 0.8599, -0.3097, -0.3957, 0.8034, -0.6216],
         "flashinfer/sampling.py top_k_mask_logits docstring"),
    ]

    @Test("published torch.randn outputs", arguments: TorchNormalKernel.allCases)
    func publishedRandn(kernel: TorchNormalKernel) {
        for case let (seed, shape, values, source) in Self.published {
            var rng = TorchRandom(seed: seed, normalKernel: kernel)
            let ours = rng.randn(shape)
            #expect(ours.shape == shape)
            for (a, b) in zip(ours.scalars, values) {
                #expect(abs(a - b) <= 0.00005 + 1e-6, "\(source): \(a) vs \(b)")
            }
        }
    }

    @Test("published torch.rand output")
    func publishedRand() {
        // being-aerys/Deep_Learning_Marathon_with_PyTorch (README notebook, torch 2.0.0):
        // torch.manual_seed(42); torch.rand(1, 5) → [0.8823, 0.9150, 0.3829, 0.9593, 0.3904].
        var rng = TorchRandom(seed: 42)
        let ours = rng.rand([1, 5]).scalars
        for (a, b) in zip(ours, [0.8823, 0.9150, 0.3829, 0.9593, 0.3904] as [Float]) { #expect(abs(a - b) <= 0.00005 + 1e-6) }
    }

    @Test("the engine is MT19937: 10000th output for the default seed 5489 is 4123659995")
    func mersenneTwister() {
        // The C++ standard ([rand.predef]) requires this of std::mt19937; at::mt19937 is the same.
        var rng = TorchRandom(seed: 5489)
        for _ in 0..<9999 { _ = rng.nextUInt32() }
        #expect(rng.nextUInt32() == 4_123_659_995)
        // Only the low 32 bits of the seed reach the engine.
        var a = TorchRandom(seed: 0x1_0000_0007), b = TorchRandom(seed: 7)
        #expect(a.nextUInt64() == b.nextUInt64())
    }

    // MARK: Bit-exact against torch 2.13.0+cpu (scripts/gen_torch_random_fixture.py)

    static let torchCases: [(name: String, seed: UInt64, ops: [(op: String, shape: [Int])])] = [
        ("seed0_randn5", 0, [("randn", [5])]),
        ("seed42_randn_2x3", 42, [("randn", [2, 3])]),
        ("seed42_randn_2x3x4", 42, [("randn", [2, 3, 4])]),
        ("seed42_randn_4x5", 42, [("randn", [4, 5])]),
        ("seed42_randn_2x16", 42, [("randn", [2, 16])]),
        ("seed42_rand_1x5", 42, [("rand", [1, 5])]),
        ("seed7_sequence", 7, [("randn", [1]), ("randn", [1]), ("randn", [3]), ("randn", [20]), ("randn", [1]),
                               ("randn", [15]), ("rand", [5]), ("randn", [16]), ("randn", [33]), ("randn", [2])]),
        ("seed11_odd_sizes", 11, [("randn", [17]), ("randn", [31]), ("randn", [47]), ("randn", [100])]),
        ("seed2024_randn_1x4x4x8x8", 2024, [("randn", [1, 4, 4, 8, 8])]),
        ("seed123_randn_1x4x16x32x32_sampled", 123, [("randn_big", [1, 4, 16, 32, 32])]),
        ("seed2p40plus5_randn20", (1 << 40) + 5, [("randn", [20])]),
        ("seedmax_randn20", .max, [("randn", [20])]),
    ]

    @Test("bit-exact against torch for both Box–Muller kernels", arguments: TorchNormalKernel.allCases)
    func torchFixture(kernel: TorchNormalKernel) throws {
        let fixture = try Fixture("torch_random.safetensors")
        let bigSample = Array(stride(from: 0, to: 65536, by: 61)) + Array((65536 - 16)..<65536)
        for (name, seed, ops) in Self.torchCases {
            var rng = TorchRandom(seed: seed, normalKernel: kernel)
            var ours: [Float] = []
            for (op, shape) in ops {
                switch op {
                case "randn": ours += rng.randn(shape).scalars
                case "rand": ours += rng.rand(shape).scalars
                default:
                    let all = rng.randn(shape).scalars
                    ours += bigSample.map { all[$0] }
                }
            }
            let reference = try fixture.floats("\(kernel.rawValue).\(name)")
            #expect(ours.count == reference.count)
            let differing = zip(ours, reference).filter { $0 != $1 }.count
            #expect(differing == 0, "\(kernel) \(name): \(differing) of \(reference.count) differ")
        }
    }

    @Test("the two kernels differ by at most a few ulp")
    func kernelsAgree() {
        var a = TorchRandom(seed: 9, normalKernel: .avx2), b = TorchRandom(seed: 9, normalKernel: .scalar)
        let x = a.randn([1, 4, 16, 32, 32]).scalars, y = b.randn([1, 4, 16, 32, 32]).scalars
        let differing = zip(x, y).filter { $0 != $1 }.count
        let worst = zip(x, y).map { abs($0 - $1) }.max() ?? 0
        print("avx2 vs scalar Box–Muller on 65536 values: \(differing) differ, max |diff| \(worst)")
        #expect(worst < 1e-5)
        #expect(a == TorchRandom(seed: 9, normalKernel: .avx2).advanced(by: 65536))
    }

    @Test("randint draws random() below 2^32 and random64() above")
    func randint() throws {
        let fixture = try Fixture("torch_random.safetensors")
        var rng = TorchRandom(seed: 3)
        #expect(rng.randint(low: 0, high: 1000, count: 50).map(Int.init) == (try fixture.ints("seed3_randint_0_1000")))
        #expect(rng.randint(low: 0, high: 1 << 40, count: 10).map(Int.init) == (try fixture.ints("seed3_randint_0_2p40_after")))
    }

    @Test("the cached float64 normal survives large draws and is cleared by manualSeed")
    func cache() {
        var rng = TorchRandom(seed: 7)
        let first = rng.randn([1]).scalars[0]
        _ = rng.randn([64])
        let second = rng.randn([1]).scalars[0]   // the cached r·sin θ of the first pair
        var fresh = TorchRandom(seed: 7)
        let pair = (fresh.nextNormalDouble(), fresh.nextNormalDouble())
        #expect(first == Float(pair.0) && second == Float(pair.1))
        rng.manualSeed(7)
        #expect(rng.randn([1]).scalars[0] == first)
        #expect(TorchRandom(signedSeed: -1).seed == .max)
    }

    @Test("randn of the production latent [1, 4, 16, 32, 32] is fast and well distributed")
    func speed() {
        var rng = TorchRandom(seed: 123)
        let clock = ContinuousClock()
        var values: [Float] = []
        let elapsed = clock.measure { values = rng.randn([1, 4, 16, 32, 32]).scalars }
        print("randn [1, 4, 16, 32, 32]: \(elapsed)")
        #expect(elapsed < .seconds(1))
        let mean = values.reduce(0, +) / Float(values.count)
        let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Float(values.count)
        #expect(abs(mean) < 0.02 && abs(variance - 1) < 0.02)
    }
}

extension TorchRandom {
    /// The generator after `count` raw 32-bit draws.
    func advanced(by count: Int) -> TorchRandom {
        var copy = self
        for _ in 0..<count { _ = copy.nextUInt32() }
        return copy
    }
}

@Suite("TorchRandom against bulk torch streams (opt-in)")
struct TorchRandomBulkTests {
    /// Set DYNAMICRAFTER_TORCH_RANDN_DIR to a folder written by
    /// `python3 scripts/gen_torch_random_fixture.py --bulk DIR` (needs torch).
    static let directory = ProcessInfo.processInfo.environment["DYNAMICRAFTER_TORCH_RANDN_DIR"]

    @Test("millions of torch.randn values, bit for bit", .enabled(if: directory != nil, "opt-in: set DYNAMICRAFTER_TORCH_RANDN_DIR (scripts/gen_torch_random_fixture.py --bulk, needs torch)"))
    func bulk() throws {
        let dir = try #require(Self.directory)
        let files = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".f32") }.sorted()
        #expect(!files.isEmpty)
        for file in files {
            // {kernel}_seed{S}_n{N}.f32
            let parts = file.dropLast(4).split(separator: "_")
            let kernel = try #require(TorchNormalKernel(rawValue: String(parts[0])))
            let seed = try #require(UInt64(parts[1].dropFirst(4)))
            let count = try #require(Int(parts[2].dropFirst(1)))
            let data = try Data(contentsOf: URL(fileURLWithPath: dir + "/" + file))
            try #require(data.count == 4 * count)
            var rng = TorchRandom(seed: seed, normalKernel: kernel)
            let ours = rng.randn([count])
            let differing = ours.withUnsafeBufferPointer { mine in
                data.withUnsafeBytes { raw in
                    (0..<count).filter { mine[$0].bitPattern != raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self) }.count
                }
            }
            print("\(file): \(differing) of \(count) differ")
            #expect(differing == 0, "\(file)")
        }
    }
}
