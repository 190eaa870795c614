import BulwarkServer
import EthereumKit
import Failsafe
import Foundation
import Routing
import SimnetTesting
import Synchronization
import Testing

/// A verifying gateway (SPEC section 5) in front of the faces of one `evm_node.py`, each face in
/// its own failure domain, on 127.0.0.1.
struct VerifyingEVMGateway {
    let router: ChainRouter
    /// `http://127.0.0.1:PORT/eth`.
    let url: String
    private let services: [Task<Void, Never>]

    static func start(_ node: EVMNode, headPollInterval: Duration = .milliseconds(100)) async throws -> VerifyingEVMGateway {
        var routing = node.routing(headPollInterval: headPollInterval)
        routing.verification = .init(quorumDomains: 2, coolingPeriod: .seconds(30))
        let router = try ChainRouter(configuration: routing)
        let gateway = Gateway(chains: [GatewayChain(name: "eth", router: router)])
        let port = Mutex<Int?>(nil)
        let server = gateway.server(host: "127.0.0.1", port: 0) { bound in port.withLock { $0 = bound } }
        let services: [Task<Void, Never>] = [Task { try? await router.run() }, Task { try? await server.run() }]
        for _ in 0..<500 where port.withLock({ $0 }) == nil { try await Task.sleep(for: .milliseconds(10)) }
        guard let bound = port.withLock({ $0 }) else {
            for task in services { task.cancel() }
            await router.shutdown()
            throw NodeError(message: "the gateway did not start")
        }
        return VerifyingEVMGateway(router: router, url: "http://127.0.0.1:\(bound)/eth", services: services)
    }

    /// Waits (bounded) until the gateway's consensus head is `head` and its header is trusted.
    func waitForHead(_ head: UInt64) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while true {
            if router.consensusHead == head, (try? await VerifiedAnswer.ask(url, "eth_getBlockByNumber", [.string("latest"), .bool(false)]))?.verified == "true" { return }
            guard ContinuousClock.now < deadline else {
                throw NodeError(message: "the gateway's consensus head is \(String(describing: router.consensusHead)), not the node's \(head)")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    func stop() async {
        for task in services { task.cancel() }
        await router.shutdown()
    }
}

/// One answer of the gateway: the JSON-RPC response and its `X-Bulwark-Verified` header.
struct VerifiedAnswer {
    let json: JSONValue
    let verified: String?

    static func ask(_ url: String, _ method: String, _ params: [JSONValue]) async throws -> VerifiedAnswer {
        let request = JSONValue.object(["jsonrpc": .string("2.0"), "id": .number(7), "method": .string(method), "params": .array(params)])
        let response = try await HTTPTestClient.request(.POST, url, body: request.serialized(), timeout: .seconds(15))
        return VerifiedAnswer(json: try JSONValue.parse(response.body), verified: response.headers.first(name: "X-Bulwark-Verified"))
    }
}

/// Verified mode judged by a real EVM (issue 7): a chain made by py-evm (eth-tester) — a
/// contract deployed and called, EIP-1559, EIP-2930 and legacy transactions, value transfers —
/// is read through a verifying gateway in front of three faces of the node (three failure
/// domains), and every answer of a verifiable method must be exactly what py-evm answers
/// directly, and marked `X-Bulwark-Verified: true`.
///
/// So every proof the gateway checks is py-evm's own: header hashes (keccak256(rlp(header)) of
/// Prague headers), account and storage proofs against the state root, code against codeHash,
/// transactionsRoot rebuilt from full transactions (types 0, 1, 2), receiptsRoot rebuilt from
/// py-evm's receipts, logs rebuilt from proven receipts of the blocks whose bloom can match.
/// Nothing was found that py-evm encodes differently from geth: every method verifies, and the
/// faces are never accused. (`evm_node.py` gained `eth_getBlockReceipts` for this test, and
/// refuses the `eth_getLogs` filters geth refuses, with geth's -32602 errors.)
///
/// Known gateway bugs, asserted as known issues so that a fix shows up here: verified
/// `eth_getLogs` answers two filters the node refuses (a reversed range, `blockHash` with a
/// range), and verified mode accuses honest faces of lying when a proof is out of its reach
/// (`whatCannotBeProvenIsNotBlamedOnHonestFaces`).
@Suite(.serialized) struct VerifiedEVMInteropTests {
    @Test(.enabled("needs eth-tester, py-evm and web3.py from PyPI; the reason is printed when they cannot be installed") {
        await EVMEnvironment.prepare()
    }, .timeLimit(.minutes(3)))
    func verifiedAnswersAreWhatPyEVMAnswers() async throws {
        let node = try await EVMNode.start(faces: 3)
        let direct = node.faces[0]
        let gateway: VerifyingEVMGateway
        do {
            try await Self.makeState(node)
            gateway = try await VerifyingEVMGateway.start(node)
        } catch {
            await node.stop()
            throw error
        }
        do {
            try await Self.compareEverything(node: node, direct: direct, gateway: gateway)
        } catch {
            Issue.record("\(error)\nnode output:\n\(node.output.text.suffix(2000))")
        }
        await gateway.stop()
        await node.stop()
    }

    /// What verified mode cannot prove must not be blamed on honest faces: a face excluded as a
    /// liar gets no calls for the cooling period, so a false accusation of every face is an
    /// outage of the chain. Two ways to it, both known gateway bugs (VerifiedReads.swift, reported):
    /// - a receipt from a block newer than the gateway's consensus head: `receipt(_:deadline:)`
    ///   fails its check when `trustedHeader(number:)` fails ("block N is beyond the consensus
    ///   head") and `proven` records every face that served the receipt as lying. A client that
    ///   polls for its receipt (web3.py's `wait_for_transaction_receipt`) meets this whenever the
    ///   block lands between two head polls.
    /// - a block hash no face knows: `headerByHash` checks the faces' `null` with `proven`,
    ///   which records "no block with that hash" as a lie of each face. Any client can send it.
    @Test(.enabled("needs eth-tester, py-evm and web3.py from PyPI; the reason is printed when they cannot be installed") {
        await EVMEnvironment.prepare()
    }, .timeLimit(.minutes(3)))
    func whatCannotBeProvenIsNotBlamedOnHonestFaces() async throws {
        let node = try await EVMNode.start(faces: 3)
        do {
            try await Self.makeState(node)
            try await Self.provokeFalseAccusations(node)
        } catch {
            Issue.record("\(error)\nnode output:\n\(node.output.text.suffix(2000))")
        }
        await node.stop()
    }

    static func provokeFalseAccusations(_ node: EVMNode) async throws {
        let direct = node.faces[0]
        let head = try #require(try await HTTPTestClient.call(direct, "eth_blockNumber").quantityValue)
        let sender = Hex.encode(Secp256k1.address(publicKey: try Secp256k1.publicKey(privateKey: try Hex.decode(node.key))))

        // A receipt one block past the gateway's head (it polls heads once an hour here).
        let behind = try await VerifyingEVMGateway.start(node, headPollInterval: .seconds(3600))
        do {
            try await behind.waitForHead(head)
            let hash = try await send(node, .legacy, gas: 21_000, to: "0x000000000000000000000000000000000000beef", value: [0x07])
            let receipt = try await VerifiedAnswer.ask(behind.url, "eth_getTransactionReceipt", [.string(hash)])
            let truth = try await HTTPTestClient.call(direct, "eth_getTransactionReceipt", [.string(hash)])
            #expect(receipt.verified != "true" || receipt.json["result"] == truth, "\(receipt.json)")
            #expect(receipt.json["result"] == nil || receipt.json["result"] == .null || receipt.json["result"] == truth)
            let afterwards = try await VerifiedAnswer.ask(behind.url, "eth_getBalance", [.string(sender), .quantity(head)])
            let accused = behind.router.status().upstreams.filter { $0.failedVerifications > 0 }.map { "\($0.id): \($0.lastFailure ?? "")" }
            print("verified EVM interop: a receipt past the gateway's head got \(receipt.json.serialized().prefix(200)); faces accused: \(accused); an ordinary read afterwards got \(afterwards.json.serialized().prefix(200))")
            #expect(accused.isEmpty, "honest faces recorded as lying: \(accused)")
            #expect(afterwards.verified == "true", "an ordinary read afterwards: \(afterwards.json.serialized().prefix(300))")
        } catch {
            Issue.record("\(error)")
        }
        await behind.stop()

        // A block hash that names no block.
        let gateway = try await VerifyingEVMGateway.start(node)
        do {
            try await gateway.waitForHead(head + 1)
            let unknown = try await VerifiedAnswer.ask(gateway.url, "eth_getBalance", [.string(sender), .object(["blockHash": .string("0x" + String(repeating: "ee", count: 32))])])
            #expect(unknown.json["result"] == nil && unknown.verified != "true", "\(unknown.json)")
            let afterwards = try await VerifiedAnswer.ask(gateway.url, "eth_getBalance", [.string(sender), .string("latest")])
            let accused = gateway.router.status().upstreams.filter { $0.failedVerifications > 0 }.map { "\($0.id): \($0.lastFailure ?? "")" }
            print("verified EVM interop: a balance at an unknown block hash got \(unknown.json.serialized().prefix(200)); faces accused: \(accused); an ordinary read afterwards got \(afterwards.json.serialized().prefix(200))")
            #expect(accused.isEmpty, "honest faces recorded as lying: \(accused)")
            #expect(afterwards.verified == "true", "an ordinary read afterwards: \(afterwards.json.serialized().prefix(300))")
        } catch {
            Issue.record("\(error)")
        }
        await gateway.stop()
    }

    /// The contract of `evm_client.py` deployed and incremented, value transfers (all EIP-1559,
    /// by web3.py straight to the node), then a legacy transfer and an EIP-2930 increment with
    /// an access list, signed here.
    static func makeState(_ node: EVMNode) async throws {
        let client = try await EVMEnvironment.run(EVMEnvironment.python, [
            EVMEnvironment.tools.appendingPathComponent("evm_client.py").path, node.faces[0], node.key, "3",
        ])
        guard client.status == 0, let line = client.output.split(separator: "\n").last,
              let contract = (try? JSONValue.parse(Array(line.utf8)))?["contract"]?.stringValue else {
            throw NodeError(message: "evm_client.py failed:\n\(client.output)")
        }
        try await send(node, .legacy, gas: 21_000, to: "0x000000000000000000000000000000000000dead", value: [0x05])
        let contractBytes = try Hex.decode(contract)
        try await send(node, .accessList, gas: 100_000, to: contract, input: [0xd0, 0x9d, 0xe0, 0x8a],  // increment()
                       accessList: [.init(address: contractBytes, storageKeys: [[UInt8](repeating: 0, count: 32)])])
    }

    /// Signs a transaction of the node's first account and sends it straight to the node (which
    /// mines it into a block of its own at once); its hash.
    @discardableResult
    static func send(_ node: EVMNode, _ kind: SignedTransaction.Kind, gas: UInt64, to: String, value: [UInt8] = [], input: [UInt8] = [],
                     accessList: [SignedTransaction.AccessListEntry] = []) async throws -> String {
        let direct = node.faces[0]
        let key = try Hex.decode(node.key)
        let sender = Hex.encode(Secp256k1.address(publicKey: try Secp256k1.publicKey(privateKey: key)))
        let nonce = try #require(try await HTTPTestClient.call(direct, "eth_getTransactionCount", [.string(sender), .string("latest")]).quantityValue)
        let baseFee = try #require(try await HTTPTestClient.call(direct, "eth_getBlockByNumber", [.string("latest"), .bool(false)])["baseFeePerGas"]?.quantityValue)
        let transaction = try SignedTransaction.signed(
            kind: kind, chainId: node.chainId, nonce: nonce, gasPrice: bigEndian(2 * baseFee + 1_000_000_000), gas: gas,
            to: try Hex.decode(to), value: value, input: input, accessList: accessList, privateKey: key)
        let hash = try await HTTPTestClient.call(direct, "eth_sendRawTransaction", [.string(Hex.encode(transaction.raw))])
        #expect(hash == .string(Keccak256.hash(transaction.raw).description))
        return try #require(hash.stringValue)
    }

    static func bigEndian(_ value: UInt64) -> [UInt8] {
        Array(withUnsafeBytes(of: value.bigEndian, Array.init).drop { $0 == 0 })
    }

    /// Every verifiable method over every block, account and transaction of the chain: the
    /// gateway's answer against the node's own.
    static func compareEverything(node: EVMNode, direct: String, gateway: VerifyingEVMGateway) async throws {
        let head = try #require(try await HTTPTestClient.call(direct, "eth_blockNumber").quantityValue)
        try await gateway.waitForHead(head)

        // What the chain holds, as the node says.
        var blocks: [(number: JSONValue, hash: JSONValue)] = []
        var transactions: [JSONValue] = []
        var accounts: Set<String> = ["0x" + String(repeating: "ab", count: 20), "0x0000000000000000000000000000000000000000"]
        var contract: String?
        var firstSender: String?
        for number in 0...head {
            let block = try await HTTPTestClient.call(direct, "eth_getBlockByNumber", [.quantity(number), .bool(true)])
            blocks.append((.quantity(number), try #require(block["hash"])))
            for transaction in block["transactions"]?.arrayValue ?? [] {
                transactions.append(try #require(transaction["hash"]))
                if firstSender == nil { firstSender = transaction["from"]?.stringValue }
                accounts.formUnion([transaction["from"]?.stringValue, transaction["to"]?.stringValue].compactMap { $0 })
                if transaction["to"] == .null {
                    contract = try await HTTPTestClient.call(direct, "eth_getTransactionReceipt", [try #require(transaction["hash"])])["contractAddress"]?.stringValue
                }
            }
        }
        let deployed = try #require(contract, "no contract creation on the chain")
        #expect(transactions.count == 9, "deploy, 3 increments, 3 transfers, legacy, EIP-2930")

        // Block parameters: every number, the tags, and EIP-1898 objects.
        var blockParameters: [JSONValue] = blocks.map(\.number) + [.string("latest"), .string("earliest"), .string("finalized"), .string("safe")]
        blockParameters += [.object(["blockHash": blocks[2].hash]), .object(["blockNumber": .quantity(head - 1)])]

        var calls: [(method: String, params: [JSONValue])] = []
        for account in accounts.sorted() {
            for block in blockParameters {
                calls.append(("eth_getBalance", [.string(account), block]))
                calls.append(("eth_getTransactionCount", [.string(account), block]))
            }
            calls.append(("eth_getCode", [.string(account), .string("latest")]))
            calls.append(("eth_getStorageAt", [.string(account), .string("0x0"), .string("latest")]))
            calls.append(("eth_getProof", [.string(account), .array([]), .string("latest")]))
        }
        calls.append(("eth_getBalance", [.string(deployed)]))  // block parameter omitted: latest
        for block in blockParameters {
            calls.append(("eth_getCode", [.string(deployed), block]))
            calls.append(("eth_getStorageAt", [.string(deployed), .string("0x0"), block]))
            calls.append(("eth_getStorageAt", [.string(deployed), .string("0x" + String(repeating: "0", count: 63) + "1"), block]))
            calls.append(("eth_getProof", [.string(deployed), .array([.string("0x0"), .string("0x1")]), block]))
            calls.append(("eth_getBlockByNumber", [block, .bool(false)]))
            calls.append(("eth_getBlockByNumber", [block, .bool(true)]))
            calls.append(("eth_getBlockReceipts", [block]))
        }
        for block in blocks {
            calls.append(("eth_getBlockByHash", [block.hash, .bool(false)]))
            calls.append(("eth_getBlockByHash", [block.hash, .bool(true)]))
            calls.append(("eth_getBlockReceipts", [block.hash]))
        }
        for transaction in transactions {
            calls.append(("eth_getTransactionReceipt", [transaction]))
        }
        // Logs: the contract's Incremented(address indexed by, uint256 count) events, filtered every way.
        let incremented = JSONValue.string("0x38ac789ed44572701765277c4d0970f2db1c1a571ed39e84358095ae4eaa5420")
        let sender = try #require(firstSender)
        let senderTopic = JSONValue.string("0x" + String(repeating: "0", count: 24) + sender.dropFirst(2))
        let filters: [[String: JSONValue]] = [
            ["fromBlock": .string("earliest"), "toBlock": .string("latest")],
            ["fromBlock": .string("0x0"), "toBlock": .quantity(head), "address": .string(deployed)],
            ["fromBlock": .string("0x2"), "toBlock": .string("0x3"), "address": .array([.string(deployed), .string(sender)])],
            ["fromBlock": .string("0x0"), "toBlock": .string("latest"), "topics": .array([incremented])],
            ["fromBlock": .string("0x0"), "toBlock": .string("latest"), "topics": .array([.null, senderTopic])],
            ["fromBlock": .string("0x0"), "toBlock": .string("latest"), "topics": .array([.array([incremented, senderTopic]), senderTopic])],
            ["fromBlock": .string("0x0"), "toBlock": .string("latest"), "address": .string(sender)],
            ["fromBlock": .string("latest"), "toBlock": .string("latest")],
            ["blockHash": blocks[2].hash],
            ["blockHash": blocks[5].hash, "address": .string(deployed)],
        ]
        for filter in filters { calls.append(("eth_getLogs", [.object(filter)])) }
        #expect(Set(calls.map(\.method)) == ChainRouter.verifiableMethods)

        var differing: [String] = []
        var unverified: [String] = []
        var equal = 0
        for (method, params) in calls {
            let expected = try await HTTPTestClient.call(direct, method, params)
            let answer = try await VerifiedAnswer.ask(gateway.url, method, params)
            let label = "\(method)\(JSONValue.array(params).serialized())"
            guard let result = answer.json["result"] else {
                differing.append("\(label): \(answer.json.serialized().prefix(600))")
                continue
            }
            let same = method == "eth_getStorageAt" ? Self.word(result) == Self.word(expected) && Self.word(result) != nil : result == expected
            if !same { differing.append("\(label): \(result.serialized().prefix(300)) instead of \(expected.serialized().prefix(300))") }
            if answer.verified != "true" { unverified.append("\(label): X-Bulwark-Verified \(answer.verified ?? "missing")") }
            if same && answer.verified == "true" { equal += 1 }
        }
        print("verified EVM interop: \(calls.count) reads of \(ChainRouter.verifiableMethods.count) verifiable methods over \(blocks.count) blocks, \(accounts.count) accounts, \(transactions.count) transactions: \(equal) verified and equal to py-evm's answer")
        #expect(differing.isEmpty, "\(differing.count) answers differ from py-evm's:\n\(differing.prefix(10).joined(separator: "\n"))")
        #expect(unverified.isEmpty, "\(unverified.count) answers not marked verified:\n\(unverified.prefix(10).joined(separator: "\n"))")
        #expect(equal == calls.count)

        // Pending state belongs to no block and cannot be proven; it is what a sender needs (web3.py
        // asks for the pending nonce before every send), so it passes, marked unverified.
        let pending = try await VerifiedAnswer.ask(gateway.url, "eth_getTransactionCount", [.string(deployed), .string("pending")])
        #expect(pending.json["result"] != nil && pending.verified == "false", "\(pending.json)")
        // Absence cannot be proven: an unknown transaction's null receipt passes, marked unverified.
        let unknown = try await VerifiedAnswer.ask(gateway.url, "eth_getTransactionReceipt", [.string("0x" + String(repeating: "ee", count: 32))])
        #expect(unknown.json["result"] == .null && unknown.verified == "false", "\(unknown.json)")

        // The logs are there: the contract's four Incremented events (three by web3.py, one EIP-2930).
        let contractLogs = try await VerifiedAnswer.ask(gateway.url, "eth_getLogs", [.object(["fromBlock": .string("earliest"), "address": .string(deployed)])])
        #expect(contractLogs.json["result"]?.arrayValue?.count == 4 && contractLogs.verified == "true", "\(contractLogs.json)")

        // Filters the node refuses as geth does (-32602, execution-apis filter-error-*.io): a
        // verified answer to one of them is an answer the real node never gives.
        let refused: [(name: String, filter: [String: JSONValue])] = [
            ("a reversed range", ["fromBlock": .quantity(head), "toBlock": .quantity(head - 2)]),
            ("blockHash with a range", ["blockHash": blocks[2].hash, "fromBlock": .string("0x1"), "toBlock": .string("0x3")]),
            ("a range beyond the head", ["fromBlock": .string("0x1"), "toBlock": .quantity(head + 5)]),
        ]
        for (name, filter) in refused {
            let byNode = try await VerifiedAnswer.ask(direct, "eth_getLogs", [.object(filter)])
            #expect(byNode.json["error"]?["code"] == .number(-32602), "the node accepts \(name): \(byNode.json)")
            let answer = try await VerifiedAnswer.ask(gateway.url, "eth_getLogs", [.object(filter)])
            print("verified EVM interop: eth_getLogs with \(name): the node answers \(byNode.json["error"]?.serialized() ?? "?"), the gateway \(answer.json.serialized().prefix(200)) [verified: \(answer.verified ?? "missing")]")
            let check = {
                #expect(answer.json["result"] == nil && answer.verified != "true",
                        "eth_getLogs with \(name): the node refuses it, the gateway answers \(answer.json.serialized().prefix(300)) [verified: \(answer.verified ?? "missing")]")
            }
            check()
        }

        // Honest faces: py-evm's answers never failed a check.
        let upstreams = gateway.router.status().upstreams
        #expect(upstreams.allSatisfy { $0.failedVerifications == 0 }, "\(upstreams.map { ($0.id, $0.failedVerifications, $0.lastFailure ?? "") })")
        #expect(upstreams.reduce(0) { $0 + $1.verifiedAnswers } >= calls.count)
    }

    /// A storage answer as the 32-byte word it stands for.
    static func word(_ value: JSONValue) -> [UInt8]? {
        guard let text = value.stringValue, let bytes = try? Hex.decode(text), bytes.count <= 32 else { return nil }
        return [UInt8](repeating: 0, count: 32 - bytes.count) + bytes
    }
}
