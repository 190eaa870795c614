// swift-tools-version: 6.2
import PackageDescription

let package = Package(
    name: "bulwark",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "bulwark", targets: ["bulwark"]),
        .library(name: "EthereumKit", targets: ["EthereumKit"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/attaswift/BigInt", from: "6.0.1"),
    ],
    targets: [
        // Ethereum primitives: keccak256, RLP, Merkle-Patricia tries and proofs,
        // header / transaction / receipt encoding, secp256k1 signatures. Pure computation, no I/O.
        .target(
            name: "EthereumKit",
            dependencies: [.product(name: "BigInt", package: "BigInt")]
        ),
        .executableTarget(
            name: "bulwark",
            dependencies: [
                "EthereumKit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // `swift run -c release ethereumkit-bench`: keccak256 and proof-verification throughput.
        .executableTarget(
            name: "ethereumkit-bench",
            dependencies: ["EthereumKit"],
            path: "benchmarks/EthereumKitBenchmarks"
        ),
        .testTarget(
            name: "EthereumKitTests",
            dependencies: ["EthereumKit"]
        ),
        .testTarget(
            name: "BulwarkCLITests",
            dependencies: ["EthereumKit"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
