// swift-tools-version:6.0
// libFuzzer targets for exprun's readers of untrusted bytes, as a package of its own beside the
// main one so that the normal build never compiles them. `scripts/fuzz` builds this library with
// `-sanitize=fuzzer,address` (coverage and AddressSanitizer in every Swift module, the readers'
// dependencies included) and links it with libFuzzer's `main`; see Sources/ExpRunFuzz/Targets.swift.
import PackageDescription

let package = Package(
    name: "exprun-fuzz",
    platforms: [.macOS(.v15)],
    products: [.library(name: "ExpRunFuzz", type: .static, targets: ["ExpRunFuzz"])],
    dependencies: [.package(name: "exprun", path: "..")],
    targets: [
        .target(name: "ExpRunFuzz", dependencies: [
            .product(name: "InferenceCore", package: "exprun"),
            .product(name: "ExpRunKit", package: "exprun"),
        ]),
    ],
    swiftLanguageModes: [.v5]
)
