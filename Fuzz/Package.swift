// swift-tools-version: 6.2
import PackageDescription

// libFuzzer targets for what Bulwark parses from untrusted bytes (issue 9, item 5).
//
// A package of its own, depending on the root by path, so the sanitizer flags never reach the
// root's `swift build` / `swift test`: they are given on the command line by `Fuzz/run.sh`
// (`-sanitize=fuzzer,address` for every Swift module, so EthereumKit is instrumented too),
// and this package has its own `.build`. It resolves offline like the root does.
//
// `RPCCallUnderFuzz` compiles `Sources/Routing/RPCCall.swift` (a symlink) on its own: the file
// needs only EthereumKit, while depending on the Routing target (which the root would first have
// to export as a product) would build NIO, NIOSSL (BoringSSL), GRDB and the rest with sanitizers
// for one file. If RPCCall.swift ever needs more than EthereumKit, this target stops compiling:
// move the JSON-RPC call and error types into a small target of their own rather than widening it.
let package = Package(
    name: "bulwark-fuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "bulwark", path: ".."),
    ],
    targets: [
        // Declares libFuzzer's LLVMFuzzerRunDriver, which each fuzzer's main.swift calls.
        .target(name: "LibFuzzerDriver"),
        .target(
            name: "RPCCallUnderFuzz",
            dependencies: [.product(name: "EthereumKit", package: "bulwark")]
        ),
        // A client's body: JSONValue.parse, then RPCCall(validating:) for the object or each batch item.
        .executableTarget(
            name: "JSONRPCFuzzer",
            dependencies: ["LibFuzzerDriver", "RPCCallUnderFuzz", .product(name: "EthereumKit", package: "bulwark")]
        ),
        // RLP.decode (and RLP.validate, BlockHeader(rlp:)); and encode → decode of items built from the input.
        .executableTarget(
            name: "RLPFuzzer",
            dependencies: ["LibFuzzerDriver", .product(name: "EthereumKit", package: "bulwark")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
