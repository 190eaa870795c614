import BigInt
import EthereumKit
import Simnet
import SimnetTesting
import Testing

private func bigUInt(_ bigEndian: [UInt8]) -> BigUInt {
    bigEndian.reduce(BigUInt(0)) { $0 << 8 | BigUInt($1) }
}

/// A reorg replaces the head branch with a longer one: every face serves the new branch at once,
/// its blocks verify, and transactions of the abandoned blocks land in the new branch.
@Suite struct ReorgTests {
    /// Before: blocks 6, 7 and 8 hold a transfer, a contract call and nothing; a third transaction
    /// waits in the pool. A reorg of depth 3 builds blocks 6…9 on block 5.
    @Test func aLongerBranchReplacesTheHead() async throws {
        let simnet = try await SimnetHarness.start()
        defer { Task { await simnet.stop() } }
        let url = simnet.url("alchemy-use1")
        let accounts = simnet.chain.accounts.map(\.address)
        let genesisBalances = accounts.map { bigUInt(simnet.chain.balance(of: $0, atBlock: 0)!) }
        simnet.mine(5)
        let transferTx = try transfer(simnet, from: 1, to: accounts[2], value: 7_000_000, nonce: 0)
        _ = try await HTTPTestClient.call(url, "eth_sendRawTransaction", [.data(transferTx.raw)])
        simnet.mine()
        let callTx = try transfer(simnet, from: 0, to: SimulatedChain.counterContract, value: 0, nonce: 0, input: [0xAB])
        _ = try await HTTPTestClient.call(url, "eth_sendRawTransaction", [.data(callTx.raw)])
        simnet.mine(2)
        let pooledTx = try transfer(simnet, from: 1, to: accounts[3], value: 9_000, nonce: 1)
        _ = try await HTTPTestClient.call(url, "eth_sendRawTransaction", [.data(pooledTx.raw)])
        #expect(simnet.chain.blockNumber(ofTransaction: transferTx.hash) == 6)
        #expect(simnet.chain.blockNumber(ofTransaction: callTx.hash) == 7)
        let oldReceipt = try await HTTPTestClient.call(url, "eth_getTransactionReceipt", [.data(transferTx.hash.bytes)])
        var oldHashes: [UInt64: JSONValue] = [:]
        for number in UInt64(6)...8 {
            oldHashes[number] = try await HTTPTestClient.call(url, "eth_getBlockByNumber", [.quantity(number), .bool(false)])["hash"]
        }

        let reorg = try simnet.reorg(depth: 3)

        #expect(reorg.ancestor == 5)
        #expect(reorg.depth == 3)
        #expect(reorg.head == 9)
        #expect(reorg.abandoned.mapValues { JSONValue.data($0.bytes) } == oldHashes)
        #expect(Set(reorg.adopted.keys) == Set(6...9))
        // Every face serves the new branch as soon as the call returns.
        for face in simnet.faces {
            #expect(try await HTTPTestClient.call(face.url, "eth_blockNumber") == .string("0x9"), "\(face.id)")
            for (number, old) in oldHashes {
                let block = try await HTTPTestClient.call(face.url, "eth_getBlockByNumber", [.quantity(number), .bool(false)])
                #expect(block["hash"] != old, "\(face.id) still serves the abandoned block \(number)")
                #expect(block["hash"] == .data(reorg.adopted[number]!.bytes))
                #expect(try await HTTPTestClient.call(face.url, "eth_getBlockByHash", [old, .bool(false)]) == .null)
            }
        }

        // The new branch verifies and links to the common ancestor.
        var parent = try await HTTPTestClient.call(url, "eth_getBlockByNumber", [.quantity(5), .bool(false)])["hash"]
        #expect(parent == .data(simnet.chain.blockHash(5)!.bytes))
        for number in UInt64(6)...9 {
            let block = try await HTTPTestClient.call(url, "eth_getBlockByNumber", [.quantity(number), .bool(true)])
            let report = try BlockVerifier.verify(block: block)
            #expect(report.checks.first { $0.name == "transactionsRoot" }?.performed == true)
            #expect(block["parentHash"] == parent, "block \(number) does not link to block \(number - 1)")
            let receipts = try await HTTPTestClient.call(url, "eth_getBlockReceipts", [.quantity(number)])
            try ReceiptsVerifier.verify(receipts: receipts, receiptsRoot: try BlockHeader(json: block).receiptsRoot)
            let byHash = try await HTTPTestClient.call(url, "eth_getBlockByHash", [block["hash"]!, .bool(true)])
            #expect(byHash == block)
            parent = block["hash"]
        }

        // The abandoned transactions, and the one pooled before the reorg, are in the new branch.
        var paid: [Int: BigUInt] = [:]
        for (tx, sender) in [(transferTx, 1), (callTx, 0), (pooledTx, 1)] {
            let receipt = try await HTTPTestClient.call(url, "eth_getTransactionReceipt", [.data(tx.hash.bytes)])
            #expect(receipt["status"] == .string("0x1"))
            let number = try #require(receipt["blockNumber"]?.stringValue.flatMap { UInt64($0.dropFirst(2), radix: 16) })
            #expect((6...9).contains(number))
            #expect(receipt["blockHash"] == .data(reorg.adopted[number]!.bytes))
            let byHash = try await HTTPTestClient.call(url, "eth_getTransactionByHash", [.data(tx.hash.bytes)])
            #expect(byHash["blockHash"] == receipt["blockHash"])
            paid[sender, default: 0] += quantity(receipt["gasUsed"]!) * quantity(receipt["effectiveGasPrice"]!)
        }
        let newReceipt = try await HTTPTestClient.call(url, "eth_getTransactionReceipt", [.data(transferTx.hash.bytes)])
        #expect(newReceipt["blockHash"] != oldReceipt["blockHash"])
        let logs = try await HTTPTestClient.call(url, "eth_getLogs", [.object([
            "fromBlock": .string("0x0"), "toBlock": .string("latest"), "address": .data(SimulatedChain.counterContract),
        ])])
        #expect(logs.arrayValue?.count == 1)
        #expect(logs.arrayValue?.first?["transactionHash"] == .data(callTx.hash.bytes))
        let logBlock = try #require(logs.arrayValue?.first?["blockNumber"]?.stringValue.flatMap { UInt64($0.dropFirst(2), radix: 16) })
        #expect(logs.arrayValue?.first?["blockHash"] == .data(reorg.adopted[logBlock]!.bytes))

        // Balances and nonces at the new head: the genesis balances moved by exactly these three transactions.
        var expected = genesisBalances
        expected[0] -= paid[0]!
        expected[1] -= BigUInt(7_000_000 + 9_000) + paid[1]!
        expected[2] += BigUInt(7_000_000)
        expected[3] += BigUInt(9_000)
        for (i, address) in accounts.enumerated() {
            let balance = try await HTTPTestClient.call(simnet.url("own-node"), "eth_getBalance", [.data(address), .string("latest")])
            #expect(quantity(balance) == expected[i], "account \(i)")
            #expect(quantity(balance) == bigUInt(simnet.chain.balance(of: address, atBlock: 9)!))
        }
        #expect(try await HTTPTestClient.call(url, "eth_getTransactionCount", [.data(accounts[1]), .string("latest")]) == .string("0x2"))
        #expect(try await HTTPTestClient.call(url, "eth_getTransactionCount", [.data(accounts[0]), .string("latest")]) == .string("0x1"))
        let counter = try await HTTPTestClient.call(url, "eth_getStorageAt", [.data(SimulatedChain.counterContract), .string("0x0"), .string("latest")])
        #expect(counter == .string("0x" + String(repeating: "0", count: 63) + "2"))

        // Proofs verify against the new blocks' state roots.
        for number in UInt64(5)...9 {
            let block = try await HTTPTestClient.call(url, "eth_getBlockByNumber", [.quantity(number), .bool(false)])
            let stateRoot = try BlockHeader(json: block).stateRoot
            #expect(stateRoot == simnet.chain.stateRoot(number))
            for address in accounts.prefix(4) + [SimulatedChain.counterContract] {
                let proof = try await HTTPTestClient.call(url, "eth_getProof", [.data(address), .array([.string("0x0")]), .quantity(number)])
                try AccountProof(json: proof).verify(stateRoot: stateRoot)
            }
        }

        // The chain goes on from the new head, with new transactions.
        let afterTx = try transfer(simnet, from: 1, to: accounts[4], value: 1, nonce: 2)
        _ = try await HTTPTestClient.call(url, "eth_sendRawTransaction", [.data(afterTx.raw)])
        #expect(simnet.mine() == 10)
        let next = try await HTTPTestClient.call(url, "eth_getBlockByNumber", [.string("latest"), .bool(true)])
        try BlockVerifier.verify(block: next)
        #expect(next["parentHash"] == .data(reorg.adopted[9]!.bytes))
        #expect(next["transactions"]?.arrayValue?.first?["hash"] == .data(afterTx.hash.bytes))
    }

    /// Reorging the same heights twice gives a third set of hashes.
    @Test func everyBranchHasItsOwnHashes() async throws {
        let simnet = try await SimnetHarness.start()
        defer { Task { await simnet.stop() } }
        simnet.mine(4)
        let first = try simnet.reorg(depth: 2)  // abandons 3 and 4, adopts 3…5
        let second = try simnet.reorg(depth: 3)  // abandons first's 3…5, adopts 3…6
        #expect(first.ancestor == 2 && first.head == 5)
        #expect(second.ancestor == 2 && second.head == 6)
        #expect(second.abandoned == first.adopted)
        for number in UInt64(3)...5 {
            #expect(second.adopted[number] != first.adopted[number])
            #expect(second.adopted[number] != first.abandoned[number])
        }
        #expect(simnet.chain.blockHash(3) == second.adopted[3])
    }

    /// Depth 1…finalityDepth, on a chain at least that long; anything else is refused and changes nothing.
    @Test func refusesReorgsItCannotMake() async throws {
        let simnet = try await SimnetHarness.start()
        defer { Task { await simnet.stop() } }
        simnet.mine(2)
        #expect(throws: ReorgRefusal.self) { try simnet.reorg(depth: 3) }  // only 2 blocks after genesis
        simnet.mine(10)
        let head = simnet.chain.blockHash(12)
        #expect(throws: ReorgRefusal.self) { try simnet.reorg(depth: 0) }
        do {
            try simnet.reorg(depth: 9)
            Issue.record("a reorg deeper than the finality depth was made")
        } catch {
            #expect(error.message.contains("finality depth (8)"), "\(error.message)")
        }
        #expect(simnet.chain.headNumber == 12 && simnet.chain.blockHash(12) == head)
        #expect(try simnet.reorg(depth: 8).head == 13)
    }

    /// A branch needs the state of its ancestor: with 2 blocks of state history, depth 3 is refused.
    @Test func refusesToBuildOnPrunedState() async throws {
        var configuration = SimnetHarness.configuration()
        configuration.stateHistory = 2
        let simnet = try await SimnetHarness.start(configuration)
        defer { Task { await simnet.stop() } }
        simnet.mine(5)
        do {
            try simnet.reorg(depth: 3)
            Issue.record("a branch was built on pruned state")
        } catch {
            #expect(error.message.contains("state of block 2 is pruned"), "\(error.message)")
        }
        #expect(try simnet.reorg(depth: 1).head == 6)
    }

    /// `POST /reorg` over the admin API, as an operator would: the answer lists both branches; bad depths are 400.
    @Test func reorgOverTheAdminAPI() async throws {
        let simnet = try await SimnetHarness.start()
        defer { Task { await simnet.stop() } }
        let tooShort = try await HTTPTestClient.request(.POST, simnet.adminURL + "/reorg", body: #"{"depth":3}"#)
        #expect(tooShort.status == .badRequest)
        #expect(tooShort.text.contains("fewer than the depth 3"), "\(tooShort.text)")
        simnet.mine(10)
        let old = try await HTTPTestClient.call(simnet.url("infura-use1"), "eth_getBlockByNumber", [.string("0xa"), .bool(false)])

        let response = try await HTTPTestClient.request(.POST, simnet.adminURL + "/reorg", body: #"{"depth":3}"#)
        #expect(response.status == .ok, "\(response.text)")
        let answer = try JSONValue.parse(response.body)
        #expect(answer["depth"] == .number(3))
        #expect(answer["ancestor"] == .string("0x7"))
        #expect(answer["head"] == .string("0xb"))
        #expect(answer["abandoned"]?.arrayValue?.map { $0["number"] } == ["0x8", "0x9", "0xa"].map { JSONValue.string($0) })
        #expect(answer["abandoned"]?.arrayValue?.last?["hash"] == old["hash"])
        let adopted = try #require(answer["adopted"]?.arrayValue)
        #expect(adopted.map { $0["number"] } == ["0x8", "0x9", "0xa", "0xb"].map { JSONValue.string($0) })
        let head = try await HTTPTestClient.call(simnet.url("infura-use1"), "eth_getBlockByNumber", [.string("latest"), .bool(false)])
        #expect(adopted.last?["hash"] == head["hash"])
        let chain = try JSONValue.parse(try await HTTPTestClient.request(.GET, simnet.adminURL + "/chain").body)
        #expect(chain["head"] == .string("0xb"))

        for body in [#"{"depth":9}"#, #"{"depth":0}"#, #"{"depth":1.5}"#, #"{}"#, "nope"] {
            let refused = try await HTTPTestClient.request(.POST, simnet.adminURL + "/reorg", body: body)
            #expect(refused.status == .badRequest, "\(body)")
            #expect(try JSONValue.parse(refused.body)["error"]?.stringValue != nil, "\(body)")
        }
        let deep = try await HTTPTestClient.request(.POST, simnet.adminURL + "/reorg", body: #"{"depth":9}"#)
        #expect(deep.text.contains("beyond the finality depth (8)"), "\(deep.text)")
        #expect(simnet.chain.headNumber == 11)
    }
}
