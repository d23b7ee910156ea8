// swift-tools-version:6.0
import PackageDescription

// Kernels are built for the machine they run on: AVX-512 / VNNI where present. Without
// `-target-cpu native` Swift emits library calls for fma and Float16 conversion (2-4x slower).
let nativeCPU: [SwiftSetting] = [.unsafeFlags(["-target-cpu", "native"])]

let package = Package(
    name: "exprun",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "exprun", targets: ["exprun"]),
        .library(name: "InferenceCore", targets: ["InferenceCore"]),
        .library(name: "ExpRunKit", targets: ["ExpRunKit"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-numerics", from: "1.1.1"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
    ],
    targets: [
        // The byte dot products of the ggml block types, one C file per type (x86 intrinsics, with a plain C fallback).
        .target(name: "GGMLSIMD", cSettings: [.unsafeFlags(["-march=native", "-O3"])]),
        .target(
            name: "InferenceCore",
            dependencies: ["GGMLSIMD", .product(name: "Numerics", package: "swift-numerics")],
            resources: [.copy("Resources/gpt2")],
            // Built with Swift's checks (no -Ounchecked): the module reads files from strangers. The
            // few hot loops that paid for the checks use wrapping index arithmetic instead.
            // No kernels target with -Ounchecked either: it is not measurably faster. callgrind, GPT-2
            // shape with 2 layers, 32-token prompt + 8 decoded, 1 thread, haswell target (valgrind has
            // no AVX-512), 2026-11-30: prefill + decode instructions checked ÷ -Ounchecked 1.002 (q4_0),
            // 1.001 (q6_k), 1.002 (q8_0). What differed (+9-10% per run) is loading: the weights' NaN
            // scan, GPT-2's Conv1D transpose, q6_k's quantizer (README, Reliability).
            swiftSettings: nativeCPU
        ),
        .target(
            name: "ExpRunKit",
            dependencies: [
                "InferenceCore",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Mustache", package: "swift-mustache"),
            ],
            plugins: ["BuildInfo"]   // BuildInfo.commit: the git commit exprun is built from
        ),
        .plugin(name: "BuildInfo", capability: .buildTool()),
        .executableTarget(
            name: "exprun",
            dependencies: [
                "InferenceCore", "ExpRunKit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "InferenceCoreTests", dependencies: ["InferenceCore"], exclude: ["Oracles"], swiftSettings: nativeCPU),
        .testTarget(name: "ExpRunKitTests", dependencies: ["ExpRunKit", "InferenceCore"]),
        .testTarget(name: "EndToEndTests", dependencies: ["ExpRunKit", "InferenceCore"]),
    ],
    swiftLanguageModes: [.v5]
)
