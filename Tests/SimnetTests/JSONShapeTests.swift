import EthereumKit
import Foundation
import Simnet
import SimnetTesting
import Testing

/// Simnet answers have the same fields, at every level, as geth's recorded answers in
/// execution-apis/tests, so clients and the gateway meet the shapes they will meet in production.
@Suite struct JSONShapeTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/execution-apis/tests")

    static func recorded(_ file: String) throws -> JSONValue {
        let text = try String(contentsOf: fixtures.appendingPathComponent(file), encoding: .utf8)
        let line = try #require(text.split(separator: "\n").first { $0.hasPrefix("<< ") })
        return try #require(try JSONValue.parse(Array(line.dropFirst(3).utf8))["result"])
    }

    /// Paths of every object key in `value` (array elements share the path `[]`).
    static func shape(_ value: JSONValue, _ path: String = "") -> Set<String> {
        switch value {
        case .object(let fields):
            var paths: Set<String> = []
            for (key, child) in fields {
                paths.insert(path + "." + key)
                paths.formUnion(shape(child, path + "." + key))
            }
            return paths
        case .array(let items):
            return items.reduce(into: Set<String>()) { $0.formUnion(shape($1, path + "[]")) }
        default:
            return []
        }
    }

    @Test func answersHaveGethShapes() async throws {
        let simnet = try await SimnetHarness.start()
        defer { Task { await simnet.stop() } }
        let url = simnet.url("own-node")
        let contract = SimulatedChain.counterContract
        var hashes: [SignedTransaction.Kind: JSONValue] = [:]
        for (i, kind) in [SignedTransaction.Kind.legacy, .accessList, .dynamicFee].enumerated() {
            let accessList = kind == .legacy ? [] : [SignedTransaction.AccessListEntry(address: contract, storageKeys: [[UInt8](repeating: 0, count: 32)])]
            let tx = try transfer(simnet, from: i, to: contract, value: 1, nonce: 0, kind: kind, input: [0xAB], accessList: accessList)
            hashes[kind] = try await HTTPTestClient.call(url, "eth_sendRawTransaction", [.data(tx.raw)])
        }
        simnet.mine(2)

        func same(_ ours: JSONValue, _ file: String, ignoring: Set<String> = [], sourceLine: SourceLocation = #_sourceLocation) throws {
            let theirs = Self.shape(try Self.recorded(file))
            let mine = Self.shape(ours)
            #expect(mine.subtracting(ignoring) == theirs.subtracting(ignoring), "\(file): only ours \(mine.subtracting(theirs)), only geth's \(theirs.subtracting(mine))", sourceLocation: sourceLine)
        }
        try same(try await HTTPTestClient.call(url, "eth_getBlockByNumber", [.string("0x1"), .bool(false)]), "eth_getBlockByNumber/get-block-prague-fork.io")
        try same(try await HTTPTestClient.call(url, "eth_getTransactionByHash", [hashes[.dynamicFee]!]), "eth_getTransactionByHash/get-dynamic-fee.io")
        try same(try await HTTPTestClient.call(url, "eth_getTransactionByHash", [hashes[.accessList]!]), "eth_getTransactionByHash/get-access-list.io")
        // geth's recorded legacy transaction predates EIP-155 and so has no chainId; ours is protected.
        try same(try await HTTPTestClient.call(url, "eth_getTransactionByHash", [hashes[.legacy]!]), "eth_getTransactionByHash/get-legacy-tx.io", ignoring: [".chainId"])
        try same(try await HTTPTestClient.call(url, "eth_getTransactionReceipt", [hashes[.dynamicFee]!]), "eth_getTransactionReceipt/get-dynamic-fee.io")
        try same(try await HTTPTestClient.call(url, "eth_getLogs", [.object(["fromBlock": .string("0x1"), "toBlock": .string("0x1")])]), "eth_getLogs/contract-addr.io")
        try same(try await HTTPTestClient.call(url, "eth_getProof", [.data(contract), .array([.string("0x0")]), .string("latest")]), "eth_getProof/get-account-proof-with-storage.io")
        try same(try await HTTPTestClient.call(url, "eth_feeHistory", [.string("0x1"), .string("0x1"), .array([.number(95), .number(99)])]), "eth_feeHistory/fee-history.io")
        let full = try await HTTPTestClient.call(url, "eth_getBlockByNumber", [.string("0x1"), .bool(true)])
        try same(full["transactions"]!.arrayValue![2], "eth_getTransactionByHash/get-dynamic-fee.io")
    }
}
