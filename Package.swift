// swift-tools-version: 6.2
import PackageDescription

/// The libraries on the forwarding path are compiled so that other modules can specialise and
/// inline their generic code (the policy types are generic over their clock, the JSON reader
/// over its bytes): without it every call pays for runtime generics. Release builds also drop
/// the run-time exclusivity checks (about 2 % of a forwarded call's CPU, measured); debug
/// builds, which the tests run, keep them.
let hotPath: [SwiftSetting] = [
    .unsafeFlags(["-cross-module-optimization"]),
    .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release)),
]

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
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio-http2", from: "1.46.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
    ],
    targets: [
        // Ethereum primitives: keccak256, RLP, Merkle-Patricia tries and proofs,
        // header / transaction / receipt encoding, secp256k1 signatures. Pure computation, no I/O.
        .target(
            name: "EthereumKit",
            dependencies: [.product(name: "BigInt", package: "BigInt")],
            swiftSettings: hotPath
        ),
        // Gateway configuration (SPEC section 2) with validation, failure-domain audit,
        // JSON-RPC request/response types and the gateway's error type.
        .target(
            name: "BulwarkCore",
            dependencies: [
                "EthereumKit",
                "Failsafe",
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        // Resilience policy as pure state machines over an injected clock: circuit breaker,
        // rate limiter, rolling latency and error windows, backoff, hedging, deadlines, consensus head.
        .target(name: "Failsafe", swiftSettings: hotPath),
        // Upstream transport: pooled keep-alive HTTP/1.1 connections, or one HTTP/2 connection
        // per loop (TLS for https) on SwiftNIO event loops, with per-attempt timeouts and
        // classified failures.
        .target(
            name: "Upstreams",
            dependencies: [
                "HTTPWire",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "NIOHPACK", package: "swift-nio-http2"),
            ],
            swiftSettings: hotPath
        ),
        // HTTP/1.1 on the wire: a strict, copy-free parser of requests and responses for both
        // legs of the forwarding path (the edge and the upstream connections).
        .target(
            name: "HTTPWire",
            dependencies: [.product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: hotPath
        ),
        // Cached answers (SPEC section 6): the store protocol, a bounded in-memory LRU store and
        // the embedded SQLite store (GRDB, WAL, bounded with eviction, survives restarts).
        .target(
            name: "Cache",
            dependencies: [
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The PostgreSQL cache store, shared by several gateways; fails open when the database is unreachable.
        .target(
            name: "PostgresCache",
            dependencies: [
                "Cache",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // For tests: a throwaway PostgreSQL server (initdb + pg_ctl) on loopback that tests can stop and start.
        .target(name: "PostgresTesting"),
        // Routing: which upstream answers a call — health, consensus head, failover to other
        // failure domains, hedging, broadcast — over the Upstreams transport and Failsafe policy.
        .target(
            name: "Routing",
            dependencies: [
                "Cache",
                "EthereumKit",
                "Failsafe",
                "HTTPWire",
                "Upstreams",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: hotPath
        ),
        // The HTTP edge: JSON-RPC parsing, batches, the SPEC error table, health and status endpoints.
        .target(
            name: "BulwarkServer",
            dependencies: [
                "HTTPWire",
                "EthereumKit",
                "Failsafe",
                "Routing",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: hotPath
        ),
        // The simulated provider network: one chain served through several provider
        // faces with failure-domain labels and injectable faults (SPEC section 7).
        .target(
            name: "Simnet",
            dependencies: [
                "EthereumKit",
                .product(name: "BigInt", package: "BigInt"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        // For tests: start a simnet in-process on ephemeral ports, drive faults, make RPC calls.
        .target(
            name: "SimnetTesting",
            dependencies: [
                "Simnet",
                "EthereumKit",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        .executableTarget(
            name: "bulwark",
            dependencies: [
                "Cache",
                "PostgresCache",
                "EthereumKit",
                "BulwarkCore",
                "BulwarkServer",
                "Failsafe",
                "Routing",
                "Upstreams",
                "Simnet",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        // The chaos matrix: every fault × call class × blast radius against a gateway in front of a
        // simnet, each cell a bounded client loop checked against the chain's ground truth.
        .target(
            name: "Chaos",
            dependencies: [
                "BulwarkServer", "Routing", "Failsafe", "Simnet", "Upstreams", "EthereumKit",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        // `swift run -c release bulwark-chaos [--calls N] [--output FILE]`: the whole matrix into Markdown.
        .executableTarget(
            name: "bulwark-chaos",
            dependencies: ["Chaos", "Simnet"],
            path: "benchmarks/chaos"
        ),
        // `swift run -c release cache-bench`: what a cache hit costs inside the gateway, memory and SQLite stores.
        .executableTarget(
            name: "cache-bench",
            dependencies: [
                "BulwarkServer", "Cache", "EthereumKit", "Failsafe", "Routing", "Simnet",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "benchmarks/CacheBenchmarks"
        ),
        // `swift run -c release verify-bench`: what a verified read costs — latency, upstream calls and CPU, cold and warm.
        .executableTarget(
            name: "verify-bench",
            dependencies: [
                "BulwarkServer", "EthereumKit", "Failsafe", "Routing", "Simnet", "Upstreams",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "benchmarks/VerifyBenchmarks"
        ),
        // `swift run -c release ethereumkit-bench`: keccak256 and proof-verification throughput.
        .executableTarget(
            name: "ethereumkit-bench",
            dependencies: ["EthereumKit"],
            path: "benchmarks/EthereumKitBenchmarks"
        ),
        .testTarget(
            name: "HTTPWireTests",
            dependencies: ["HTTPWire", .product(name: "NIOCore", package: "swift-nio")]
        ),
        .testTarget(
            name: "EthereumKitTests",
            dependencies: ["EthereumKit"]
        ),
        .testTarget(
            name: "BulwarkCoreTests",
            dependencies: ["BulwarkCore"]
        ),
        .testTarget(
            name: "CacheTests",
            dependencies: ["Cache", .product(name: "Logging", package: "swift-log")]
        ),
        .testTarget(
            name: "PostgresCacheTests",
            dependencies: ["Cache", "PostgresCache", "PostgresTesting", .product(name: "Logging", package: "swift-log")]
        ),
        .testTarget(
            name: "FailsafeTests",
            dependencies: ["Failsafe"]
        ),
        .testTarget(
            name: "UpstreamsTests",
            dependencies: ["Upstreams", "Simnet", "SimnetTesting", "EthereumKit", .product(name: "NIOCore", package: "swift-nio")]
        ),
        .testTarget(
            name: "RoutingTests",
            dependencies: ["Routing", "Upstreams", "HTTPWire", "EthereumKit", .product(name: "NIOCore", package: "swift-nio")]
        ),
        .testTarget(
            name: "BulwarkServerTests",
            dependencies: [
                "BulwarkServer", "Routing", "Failsafe", "Simnet", "SimnetTesting", "EthereumKit", "Cache", "PostgresCache", "PostgresTesting",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Bulwark judged by recordings of real geth answers (execution-apis), replayed by upstreams.
        .testTarget(
            name: "ConformanceTests",
            dependencies: [
                "BulwarkServer", "Routing", "Failsafe", "Simnet", "SimnetTesting", "EthereumKit",
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        // Bulwark in front of real third-party software: an eth-tester/py-evm node, web3.py.
        .testTarget(
            name: "InteropTests",
            dependencies: ["BulwarkServer", "Routing", "Failsafe", "Simnet", "SimnetTesting", "EthereumKit"]
        ),
        .testTarget(
            name: "ChaosTests",
            dependencies: ["Chaos", "Simnet"]
        ),
        .testTarget(
            name: "SimnetTests",
            dependencies: ["Simnet", "SimnetTesting", "EthereumKit", .product(name: "BigInt", package: "BigInt")]
        ),
        .testTarget(
            name: "BulwarkCLITests",
            dependencies: ["EthereumKit", "SimnetTesting"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
