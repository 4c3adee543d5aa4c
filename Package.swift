// swift-tools-version: 6.0
import PackageDescription

import Foundation

// Hot kernels are compiled for the vector units on purpose: plain -O on x86-64 targets the
// 2003 baseline and emits no FMA. "haswell" (AVX2 + FMA + F16C: the x86-64-v3 feature set,
// 2013 onwards) is the floor we support on x86-64; other architectures keep the default.
// DYNAMICRAFTER_TARGET_CPU overrides it ("none" for the baseline, e.g. to measure the gain);
// DYNAMICRAFTER_UNCHECKED=1 adds -Ounchecked to the kernels (measured by `bench`, not default).
let environment = ProcessInfo.processInfo.environment
#if arch(x86_64)
let targetCPU = environment["DYNAMICRAFTER_TARGET_CPU"] ?? "haswell"
#else
let targetCPU = environment["DYNAMICRAFTER_TARGET_CPU"] ?? "none"
#endif
let vectorFlags: [SwiftSetting] =
    (targetCPU == "none" ? [] : [.unsafeFlags(["-target-cpu", targetCPU])])
    + (environment["DYNAMICRAFTER_UNCHECKED"] == "1" ? [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))] : [])

let strictness: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "DynamiCrafter",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "dynamicrafter", targets: ["DynamiCrafterCLI"]),
        .executable(name: "dynamicrafterd", targets: ["DynamiCrafterDaemon"]),
        .library(name: "TensorStorage", targets: ["TensorStorage"]),
        .library(name: "TensorCore", targets: ["TensorCore"]),
        .library(name: "Weights", targets: ["Weights"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    ],
    targets: [
        .systemLibrary(
            name: "COpenBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]
        ),
        .systemLibrary(
            name: "CDNNL",
            providers: [.apt(["libdnnl-dev"])]
        ),
        // Tensors as stored values: dtypes, bytes (heap or mapped), float32 tensors and their
        // memory pool. No compute library: what reads weights links this, not oneDNN/OpenBLAS.
        .target(
            name: "TensorStorage",
            swiftSettings: strictness + vectorFlags
        ),
        .target(
            name: "TensorCore",
            dependencies: ["TensorStorage", "COpenBLAS", "CDNNL"],
            swiftSettings: strictness + vectorFlags
        ),
        // 8-bit RGB images and the reference's image preprocessing (Pillow resize, torchvision
        // crop, CLIP's resize and normalisation): above storage, below the compute backends, so
        // that MediaIO decodes into it without linking them.
        .target(
            name: "Imaging",
            dependencies: ["TensorStorage"],
            swiftSettings: strictness + vectorFlags
        ),
        .systemLibrary(
            name: "CZlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        .target(
            name: "CLIPTokenizer",
            dependencies: ["CZlib"],
            resources: [.copy("Resources/bpe_simple_vocab_16e6.txt.gz")],
            swiftSettings: strictness
        ),
        .target(
            name: "DynamiCrafterModel",
            dependencies: ["TensorStorage", "TensorCore", "Weights", .product(name: "Yams", package: "Yams")],
            swiftSettings: strictness + vectorFlags
        ),
        .target(
            name: "DiffusionPipeline",
            dependencies: ["TensorStorage", "TensorCore", "Imaging", "Weights", "CLIPTokenizer", "DynamiCrafterModel"],
            swiftSettings: strictness + vectorFlags
        ),
        .target(
            name: "Weights",
            dependencies: ["TensorStorage"],
            swiftSettings: strictness
        ),
        // `dynamicrafter check-reference`: runs golden-tensor manifests against the port.
        .target(
            name: "ReferenceCheck",
            dependencies: ["TensorStorage", "TensorCore", "Imaging", "Weights", "CLIPTokenizer", "DynamiCrafterModel", "DiffusionPipeline"],
            swiftSettings: strictness
        ),
        // The daemon's job engine: model registry, queue, jobs, progress, cancellation. Knows
        // nothing of D-Bus (the daemon's D-Bus layer maps it onto the bus).
        .target(
            name: "AnimationService",
            dependencies: ["TensorStorage", "TensorCore", "Imaging", "Weights", "DynamiCrafterModel", "DiffusionPipeline", "MediaIO", "ModelStore",
                           .product(name: "Logging", package: "swift-log")],
            swiftSettings: strictness
        ),
        // Installed models: fetch (HTTP with resume and SHA-256 verification), add, list, remove,
        // and finding a model's weights and configuration (ModelLocation). Below the pipeline.
        .target(
            name: "ModelStore",
            dependencies: ["TensorStorage", "Weights", "DynamiCrafterModel",
                           .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strictness
        ),
        // Media I/O: image decoding and video encoding through GStreamer (appsrc/appsink).
        .systemLibrary(
            name: "CGStreamer",
            pkgConfig: "gstreamer-app-1.0",
            providers: [.apt(["libgstreamer1.0-dev", "libgstreamer-plugins-base1.0-dev"])]
        ),
        // GIF framing and LZW (Debian's GStreamer has no GIF encoder).
        .systemLibrary(
            name: "CGIF",
            providers: [.apt(["libgif-dev"])]
        ),
        .target(
            name: "MediaIO",
            dependencies: ["CGStreamer", "CGIF", "Imaging"],
            swiftSettings: strictness
        ),
        // The D-Bus layer: a Swift wrapper over libdbus (connection on a dispatch source,
        // messages, variants, fd passing, exported objects). Knows nothing of models or jobs.
        .systemLibrary(
            name: "CDBus",
            pkgConfig: "dbus-1",
            providers: [.apt(["libdbus-1-dev"])]
        ),
        .target(
            name: "DBusKit",
            dependencies: ["CDBus"],
            swiftSettings: strictness
        ),
        .executableTarget(
            name: "DynamiCrafterCLI",
            dependencies: [
                "TensorStorage", "TensorCore", "Imaging", "Weights", "DynamiCrafterModel", "DiffusionPipeline", "MediaIO", "ReferenceCheck", "ModelStore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strictness + vectorFlags
        ),
        .executableTarget(
            name: "DynamiCrafterDaemon",
            dependencies: [
                "TensorStorage", "TensorCore", "DBusKit", "AnimationService", "MediaIO", "DiffusionPipeline", "DynamiCrafterModel",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            resources: [.embedInCode("org.dynamicrafter.Animator1.xml")],
            swiftSettings: strictness
        ),
        .target(
            name: "TestingSupport",
            dependencies: ["TensorStorage", "TensorCore", "Weights"],
            path: "Tests/TestingSupport",
            swiftSettings: strictness
        ),
        .testTarget(
            name: "TensorCoreTests",
            dependencies: ["TensorStorage", "TensorCore", "Imaging", "Weights", "TestingSupport"],
            resources: [.copy("Fixtures")],
            swiftSettings: strictness
        ),
        .testTarget(
            name: "WeightsTests",
            dependencies: ["Weights", "TensorStorage", "TestingSupport"],
            exclude: ["LibFuzzer"],
            resources: [.copy("Fixtures")],
            swiftSettings: strictness
        ),
        .testTarget(
            name: "CLIPTokenizerTests",
            dependencies: ["CLIPTokenizer", "CZlib", "Weights", "TensorStorage", "TensorCore"],
            resources: [.copy("Fixtures")],
            swiftSettings: strictness
        ),
        .testTarget(
            name: "DynamiCrafterModelTests",
            dependencies: ["DynamiCrafterModel", "Weights", "TensorStorage", "TensorCore", "TestingSupport"],
            resources: [.copy("Fixtures")],
            swiftSettings: strictness
        ),
        .testTarget(
            name: "DiffusionPipelineTests",
            dependencies: ["DiffusionPipeline", "DynamiCrafterModel", "CLIPTokenizer", "Weights", "TensorStorage", "TensorCore", "Imaging", "TestingSupport"],
            resources: [.copy("Fixtures")],
            swiftSettings: strictness
        ),
        .testTarget(
            name: "ReferenceCheckTests",
            dependencies: ["ReferenceCheck", "DiffusionPipeline", "DynamiCrafterModel", "Weights", "TensorStorage", "TensorCore", "TestingSupport"],
            swiftSettings: strictness
        ),
        .testTarget(
            name: "AnimationServiceTests",
            dependencies: ["AnimationService", "DiffusionPipeline", "DynamiCrafterModel", "MediaIO", "Imaging", "TensorStorage", "TensorCore", "TestingSupport",
                           .product(name: "Logging", package: "swift-log"),
                           .product(name: "InMemoryLogging", package: "swift-log")],
            swiftSettings: strictness
        ),
        .testTarget(
            name: "DaemonTests",
            dependencies: ["DBusKit", "TestingSupport"],
            swiftSettings: strictness
        ),
        .testTarget(
            name: "PluginTests",
            dependencies: ["TestingSupport"],
            swiftSettings: strictness
        ),
        .testTarget(
            name: "ModelStoreTests",
            dependencies: ["ModelStore", "DiffusionPipeline", "DynamiCrafterModel", "Weights", "TensorStorage", "TensorCore", "TestingSupport"],
            swiftSettings: strictness
        ),
        .testTarget(
            name: "PackagingTests",
            dependencies: ["TestingSupport"],
            swiftSettings: strictness
        ),
        .testTarget(
            name: "MediaIOTests",
            dependencies: ["MediaIO", "Imaging", "TestingSupport"],
            swiftSettings: strictness
        ),
        .testTarget(
            name: "DBusKitTests",
            dependencies: ["DBusKit", "TestingSupport"],
            swiftSettings: strictness
        ),
        .testTarget(
            name: "CLITests",
            dependencies: ["Weights", "TensorStorage", "TensorCore", "TestingSupport"],
            swiftSettings: strictness
        ),
    ],
    swiftLanguageModes: [.v6]
)

// libFuzzer harness over both weight readers, opt-in:
//   DYNAMICRAFTER_FUZZ=1 swift build -c release --product weights-fuzzer -Xswiftc -sanitize=fuzzer,address
if environment["DYNAMICRAFTER_FUZZ"] != nil {
    package.products.append(.executable(name: "weights-fuzzer", targets: ["WeightsFuzzer"]))
    package.targets.append(.executableTarget(
        name: "WeightsFuzzer", dependencies: ["Weights", "TensorStorage"], path: "Tests/WeightsTests/LibFuzzer",
        swiftSettings: strictness + [.define("WEIGHTS_LIBFUZZER"), .unsafeFlags(["-parse-as-library"])],
        linkerSettings: [.unsafeFlags(["-sanitize=fuzzer,address"])]))
}
