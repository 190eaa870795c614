import BigInt
import EthereumKit
import Simnet
import SimnetTesting
import Testing

/// Builds a signed transfer from development account `from`.
func transfer(_ simnet: Simnet, from: Int, to: [UInt8], value: UInt64, nonce: UInt64, kind: SignedTransaction.Kind = .dynamicFee,
              chainId: UInt64? = nil, input: [UInt8] = [], accessList: [SignedTransaction.AccessListEntry] = []) throws -> SignedTransaction {
    let gwei: [UInt8] = [0x3B, 0x9A, 0xCA, 0x00]  // 1e9
    let twoGwei: [UInt8] = [0x77, 0x35, 0x94, 0x00]
    return try SignedTransaction.signed(
        kind: kind, chainId: chainId ?? simnet.chain.chainId, nonce: nonce,
        gasPrice: kind == .dynamicFee ? [] : twoGwei,
        maxPriorityFeePerGas: kind == .dynamicFee ? gwei : [], maxFeePerGas: kind == .dynamicFee ? twoGwei : [],
        gas: 100_000, to: to, value: withUnsafeBytes(of: value.bigEndian) { Array($0) }, input: input, accessList: accessList,
        privateKey: simnet.chain.accounts[from].privateKey
    )
}

func quantity(_ value: JSONValue) -> BigUInt {
    BigUInt(value.stringValue!.dropFirst(2), radix: 16)!
}

@Suite struct SimnetChainTests {
    /// Blocks served by a face verify with EthereumKit: header hash, transactionsRoot from full
    /// transactions, receiptsRoot from eth_getBlockReceipts.
    @Test func blocksAndReceiptsVerify() async throws {
        let simnet = try await SimnetHarness.start()
        defer { Task { await simnet.stop() } }
        let url = simnet.url("alchemy-use1")
        let contract = SimulatedChain.counterContract
        for nonce in UInt64(0)..<3 {
            for (i, kind) in [SignedTransaction.Kind.legacy, .accessList, .dynamicFee].enumerated() {
                let tx = try transfer(simnet, from: i, to: nonce == 1 ? contract : simnet.chain.accounts[5].address, value: 1000 + nonce,
                                      nonce: nonce, kind: kind, input: nonce == 1 ? [0xCA, 0xFE] : [])
                _ = try await HTTPTestClient.call(url, "eth_sendRawTransaction", [.data(tx.raw)])
            }
            simnet.mine()
        }
        simnet.mine()
        for number in UInt64(0)...4 {
            let block = try await HTTPTestClient.call(url, "eth_getBlockByNumber", [.quantity(number), .bool(true)])
            let report = try BlockVerifier.verify(block: block)
            let txCheck = try #require(report.checks.first { $0.name == "transactionsRoot" })
            #expect(txCheck.performed, "\(txCheck.detail)")
            let receipts = try await HTTPTestClient.call(url, "eth_getBlockReceipts", [.quantity(number)])
            let header = try BlockHeader(json: block)
            try ReceiptsVerifier.verify(receipts: receipts, receiptsRoot: header.receiptsRoot)
            if (1...3).contains(number) { #expect(receipts.arrayValue?.count == 3) }
        }
        // By hash too, and hashes chain.
        let b3 = try await HTTPTestClient.call(url, "eth_getBlockByNumber", [.string("0x3"), .bool(false)])
        let byHash = try await HTTPTestClient.call(url, "eth_getBlockByHash", [b3["hash"]!, .bool(false)])
        #expect(byHash == b3)
        let b4 = try await HTTPTestClient.call(url, "eth_getBlockByNumber", [.string("0x4"), .bool(false)])
        #expect(b4["parentHash"] == b3["hash"])
    }

    /// eth_getProof of every funded account and of the contract (with storage) verifies against the block's stateRoot,
    /// at the head and at historic blocks.
    @Test func proofsOfEveryAccountVerify() async throws {
        let simnet = try await SimnetHarness.start()
        defer { Task { await simnet.stop() } }
        let url = simnet.url("infura-use1")
        _ = try await HTTPTestClient.call(url, "eth_sendRawTransaction", [.data(try transfer(simnet, from: 0, to: SimulatedChain.counterContract, value: 5, nonce: 0).raw)])
        simnet.mine(2)
        let addresses = simnet.chain.accounts.map(\.address) + [SimulatedChain.counterContract, [UInt8](repeating: 0xAB, count: 20)]
        for number in [UInt64(0), 1, 2] {
            let block = try await HTTPTestClient.call(url, "eth_getBlockByNumber", [.quantity(number), .bool(false)])
            let stateRoot = try BlockHeader(json: block).stateRoot
            for address in addresses {
                let proof = try await HTTPTestClient.call(url, "eth_getProof", [.data(address), .array([.string("0x0"), .string("0x1"), .string("0x2")]), .quantity(number)])
                let parsed = try AccountProof(json: proof)
                try parsed.verify(stateRoot: stateRoot)
                let balance = try await HTTPTestClient.call(url, "eth_getBalance", [.data(address), .quantity(number)])
                #expect(proof["balance"] == balance)
            }
        }
        // The contract's call counter (slot 0) went from 1 to 2 and the proof shows it.
        let proof = try await HTTPTestClient.call(url, "eth_getProof", [.data(SimulatedChain.counterContract), .array([.string("0x0")]), .string("latest")])
        #expect(proof["storageProof"]?.arrayValue?.first?["value"] == .string("0x2"))
        let code = try await HTTPTestClient.call(url, "eth_getCode", [.data(SimulatedChain.counterContract), .string("latest")])
        try AccountProof(json: proof).verify(code: try Hex.decode(code.stringValue!))
    }

    /// Balances and nonces follow from the included transfers, at every historic block.
    @Test func historicBalancesFollowTransfers() async throws {
        let simnet = try await SimnetHarness.start()
        defer { Task { await simnet.stop() } }
        let url = simnet.url("quicknode-euw1")
        let sender = simnet.chain.accounts[1].address
        let receiver = simnet.chain.accounts[2].address
        func balance(_ address: [UInt8], _ block: UInt64) async throws -> BigUInt {
            quantity(try await HTTPTestClient.call(url, "eth_getBalance", [.data(address), .quantity(block)]))
        }
        let start = try await balance(sender, 0)
        var expectedSender = start
        var expectedReceiver = try await balance(receiver, 0)
        for round in UInt64(0)..<3 {
            let value = 1_000_000 * (round + 1)
            let tx = try transfer(simnet, from: 1, to: receiver, value: value, nonce: round)
            let hash = try await HTTPTestClient.call(url, "eth_sendRawTransaction", [.data(tx.raw)])
            #expect(hash == .data(tx.hash.bytes))
            simnet.mine()
            let receipt = try await HTTPTestClient.call(url, "eth_getTransactionReceipt", [hash])
            #expect(receipt["status"] == .string("0x1"))
            let paid = quantity(receipt["gasUsed"]!) * quantity(receipt["effectiveGasPrice"]!)
            expectedSender -= BigUInt(value) + paid
            expectedReceiver += BigUInt(value)
            #expect(try await balance(sender, round + 1) == expectedSender)
            #expect(try await balance(receiver, round + 1) == expectedReceiver)
            #expect(try await HTTPTestClient.call(url, "eth_getTransactionCount", [.data(sender), .quantity(round + 1)]) == .quantity(round + 1))
        }
        // History is untouched by later blocks.
        #expect(try await balance(sender, 0) == start)
        #expect(try await HTTPTestClient.call(url, "eth_getTransactionCount", [.data(sender), .string("0x0")]) == .string("0x0"))
        // A block beyond the head is "header not found", as geth says.
        await #expect(throws: JSONRPCError(code: -32000, message: "header not found")) {
            try await HTTPTestClient.call(url, "eth_getBalance", [.data(sender), .string("0x64")])
        }
    }

    /// Bad transactions get the errors a real node returns.
    @Test func transactionsAreValidatedLikeANode() async throws {
        let simnet = try await SimnetHarness.start()
        defer { Task { await simnet.stop() } }
        let url = simnet.url("own-node")
        let receiver = simnet.chain.accounts[3].address
        let good = try transfer(simnet, from: 0, to: receiver, value: 1, nonce: 0)
        _ = try await HTTPTestClient.call(url, "eth_sendRawTransaction", [.data(good.raw)])
        await #expect(throws: JSONRPCError(code: -32000, message: "already known")) {
            try await HTTPTestClient.call(url, "eth_sendRawTransaction", [.data(good.raw)])
        }
        simnet.mine()
        let reused = try transfer(simnet, from: 0, to: receiver, value: 2, nonce: 0)
        await #expect(throws: JSONRPCError(code: -32000, message: "nonce too low: address \(Hex.encode(simnet.chain.accounts[0].address)), tx: 0 state: 1")) {
            try await HTTPTestClient.call(url, "eth_sendRawTransaction", [.data(reused.raw)])
        }
        let otherChain = try transfer(simnet, from: 0, to: receiver, value: 2, nonce: 1, chainId: 1)
        await #expect(throws: JSONRPCError(code: -32000, message: "invalid sender: invalid chain id for signer: have 1 want 1337")) {
            try await HTTPTestClient.call(url, "eth_sendRawTransaction", [.data(otherChain.raw)])
        }
        // A corrupted signature recovers another (unfunded) sender or none at all.
        var corrupted = try transfer(simnet, from: 0, to: receiver, value: 2, nonce: 1, kind: .legacy).raw
        corrupted[corrupted.count - 5] ^= 0x55
        do {
            _ = try await HTTPTestClient.call(url, "eth_sendRawTransaction", [.data(corrupted)])
            Issue.record("a corrupted signature was accepted")
        } catch let error as JSONRPCError {
            #expect(error.message == "invalid sender" || error.message.hasPrefix("insufficient funds"), "\(error.message)")
        }
        await #expect(throws: JSONRPCError.self) {
            try await HTTPTestClient.call(url, "eth_sendRawTransaction", [.string("0xc0ffee")])
        }
    }

    /// Tags, batches, notifications, logs, fees and the fixed eth_call behaviour.
    @Test func methodsAndShapes() async throws {
        let simnet = try await SimnetHarness.start()
        defer { Task { await simnet.stop() } }
        let url = simnet.url("ankr-eastus")
        _ = try await HTTPTestClient.call(url, "eth_sendRawTransaction", [.data(try transfer(simnet, from: 4, to: SimulatedChain.counterContract, value: 0, nonce: 0, input: [1, 2, 3]).raw)])
        simnet.mine(20)
        #expect(try await HTTPTestClient.call(url, "eth_blockNumber") == .string("0x14"))
        #expect(try await HTTPTestClient.call(url, "eth_chainId") == .string("0x539"))
        #expect(try await HTTPTestClient.call(url, "net_version") == .string("1337"))
        let finalized = try await HTTPTestClient.call(url, "eth_getBlockByNumber", [.string("finalized"), .bool(false)])
        #expect(finalized["number"] == .string("0xc"))  // 20 - 8
        let safe = try await HTTPTestClient.call(url, "eth_getBlockByNumber", [.string("safe"), .bool(false)])
        #expect(safe["number"] == .string("0x10"))  // 20 - 4
        #expect(try await HTTPTestClient.call(url, "eth_getBlockByNumber", [.string("0x15"), .bool(false)]) == .null)

        let batch = #"[{"jsonrpc":"2.0","id":"a","method":"eth_blockNumber"},{"jsonrpc":"2.0","method":"eth_chainId"},{"jsonrpc":"2.0","id":7,"method":"nope"}]"#
        let answer = try JSONValue.parse(try await HTTPTestClient.request(.POST, url, body: batch).body)
        #expect(answer.arrayValue?.count == 2)  // the notification gets no answer
        #expect(answer.arrayValue?[0]["id"] == .string("a"))
        #expect(answer.arrayValue?[1]["error"]?["code"] == .number(-32601))
        let parseError = try JSONValue.parse(try await HTTPTestClient.request(.POST, url, body: "{nope").body)
        #expect(parseError["error"]?["code"] == .number(-32700))

        let logs = try await HTTPTestClient.call(url, "eth_getLogs", [.object([
            "fromBlock": .string("0x0"), "toBlock": .string("latest"),
            "address": .data(SimulatedChain.counterContract), "topics": .array([.data(SimulatedChain.calledTopic.bytes)]),
        ])])
        #expect(logs.arrayValue?.count == 1)
        #expect(logs.arrayValue?.first?["data"] == .string("0x010203"))
        let none = try await HTTPTestClient.call(url, "eth_getLogs", [.object(["fromBlock": .string("0x2"), "toBlock": .string("0x14")])])
        #expect(none.arrayValue?.isEmpty == true)
        await #expect(throws: JSONRPCError(code: -32602, message: "invalid block range params")) {
            try await HTTPTestClient.call(url, "eth_getLogs", [.object(["fromBlock": .string("0x5"), "toBlock": .string("0x2")])])
        }
        let call = try await HTTPTestClient.call(url, "eth_call", [.object(["to": .data(SimulatedChain.counterContract), "data": .string("0x")]), .string("latest")])
        #expect(call == .string("0x" + String(repeating: "0", count: 63) + "2"))
        let fees = try await HTTPTestClient.call(url, "eth_feeHistory", [.string("0x4"), .string("latest"), .array([.number(50)])])
        #expect(fees["oldestBlock"] == .string("0x11"))
        #expect(fees["baseFeePerGas"]?.arrayValue?.count == 5)
        #expect(fees["reward"]?.arrayValue?.count == 4)
        #expect(try await HTTPTestClient.call(url, "eth_gasPrice") == .string("0x77359400"))
    }
}
