import ArgumentParser
import Foundation
import TensorCore

/// `dynamicrafter bench`: the machine's GEMM ceiling and every kernel at DynamiCrafter's real
/// sizes, on each backend, with the fraction of the ceiling measured in this same run.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure the GEMM ceiling and the model's kernels at their real sizes.",
        discussion: """
            Reports median times over --repeats runs (after one warm-up), achieved GFLOP/s (GB/s \
            for memory-bound kernels) and the fraction of the best fp32 GEMM rate measured in the \
            same run. With --unset-coretype the fp32 ceiling is also measured in a child process \
            without OPENBLAS_CORETYPE (Debian's OpenBLAS misdetects some CPUs without it). \
            `bench model` times the whole model instead (see `bench model --help`).
            """,
        subcommands: [ModelBenchCommand.self]
    )

    @Option(name: .customLong("backend"), parsing: .upToNextOption,
            help: "Backends to measure (onednn, openblas).")
    var backends: [BackendKind] = [.onednn, .openblas]

    @Option(help: "Timed runs per measurement (the median is reported).")
    var repeats: Int = 5

    @Option(help: "Threads for the multi-threaded runs (default: all CPUs).")
    var threads: Int?

    @Flag(help: "Skip the single-thread ceiling and the bf16 kernel runs.")
    var quick = false

    @Flag(help: "Also measure OpenBLAS's fp32 ceiling with OPENBLAS_CORETYPE unset (child process).")
    var unsetCoretype = false

    @Flag(help: "Leave glibc's allocator as it is (by default large blocks are kept for reuse).")
    var defaultAllocator = false

    @Flag(help: .hidden)
    var ceilingOnly = false

    @Option(name: .customLong("kernels"), parsing: .upToNextOption,
            help: "Kernel groups to measure after the ceiling and copy bandwidth (conv, attention, shared, elementwise).")
    var kernelGroups: [BenchKernelGroup] = BenchKernelGroup.allCases

    func validate() throws {
        guard repeats >= 1, repeats <= 1000 else { throw ValidationError("--repeats must be 1…1000") }
        if backends.contains(.reference) { throw ValidationError("the reference backend is too slow to benchmark at real sizes") }
    }

    func run() throws {
        let threadCount = threads ?? Threading.availableCPUs
        Threading.configure(threads: threadCount)
        if !defaultAllocator { AllocatorTuning.keepLargeBlocks() }
        var suite = BenchSuite(repeats: repeats, threads: threadCount)
        let env = ProcessInfo.processInfo.environment
        print("dynamicrafter bench: \(defaultAllocator ? "default allocator, " : "")\(threadCount) threads, \(repeats) repeats, OPENBLAS_CORETYPE=\(env["OPENBLAS_CORETYPE"] ?? "(unset)"), OMP_WAIT_POLICY=\(env["OMP_WAIT_POLICY"] ?? "(unset)")")
        let made = try backends.map { try ComputeBackends.make($0) }
        for b in made { print("  \(b.kind.rawValue): \(b.summary)") }

        // 1. Ceilings.
        for b in made {
            try suite.gemmCeiling(b, precisions: ceilingOnly ? [.f32] : Precision.allCases,
                                  singleThread: !quick && !ceilingOnly)
        }
        if ceilingOnly {
            printBenchTable(suite.rows, ceiling: nil, bandwidth: nil)
            return
        }
        suite.copyBandwidth()
        if unsetCoretype { suite.notes.append(contentsOf: Self.ceilingWithoutCoretype()) }

        // 2. Kernels at real sizes.
        for b in made {
            for p in (quick ? [Precision.f32] : Precision.allCases) {
                if kernelGroups.contains(.conv) { try suite.convolutions(b, precision: p) }
                if kernelGroups.contains(.attention) { try suite.attentions(b, precision: p) }
            }
        }
        if kernelGroups.contains(.shared) { try suite.sharedKernels() }
        if kernelGroups.contains(.elementwise) { try suite.elementwiseKernels() }

        print()
        printBenchTable(suite.rows, ceiling: suite.ceiling, bandwidth: suite.bandwidth)
        print()
        if let c = suite.ceiling { print(String(format: "GEMM ceiling (best fp32, all threads, this run): %.1f GFLOP/s", c)) }
        if let bw = suite.bandwidth { print(String(format: "copy bandwidth (all threads, this run): %.1f GB/s", bw)) }
        for n in suite.notes { print(n) }
    }

    /// Runs the fp32 OpenBLAS ceiling in a child without OPENBLAS_CORETYPE: the variable is read
    /// once when OpenBLAS loads, so it cannot be changed inside this process.
    static func ceilingWithoutCoretype() -> [String] {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/proc/self/exe")
        p.arguments = ["bench", "--backend", "openblas", "--ceiling-only", "--repeats", "3"]
        var env = ProcessInfo.processInfo.environment
        env["OPENBLAS_CORETYPE"] = nil
        env["OPENBLAS_L2_SIZE"] = nil
        p.environment = env
        let pipe = Pipe()
        p.standardOutput = pipe
        do {
            try p.run()
            let data = pipe.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            let text = String(decoding: data, as: UTF8.self)
            return ["OpenBLAS fp32 ceiling with OPENBLAS_CORETYPE unset (child process):"]
                + text.split(separator: "\n").map { "  " + $0 }
        } catch {
            return ["could not run the OPENBLAS_CORETYPE-unset child: \(error)"]
        }
    }
}

extension BackendKind: ExpressibleByArgument {}
extension TensorCore.Precision: ExpressibleByArgument {}

