import BulwarkServer
import EthereumKit
import Routing
import Simnet
import SimnetTesting
import Testing

/// Verified mode (SPEC section 5) on simnet: faces that lie about balances and forge proofs
/// never get a wrong value to the client; with only liars left, the client gets -32011.
@Suite(.serialized) struct VerifiedModeTests {
    static func verifying(_ routing: inout RouterConfiguration) {
        routing.verification = .init(quorumDomains: 2, coolingPeriod: .seconds(30))
    }

    static func ask(_ harness: GatewayHarness, _ method: String, _ params: String) async throws -> (json: JSONValue, verified: String?, status: Int) {
        let response = try await HTTPTestClient.request(.POST, harness.url, body: #"{"jsonrpc":"2.0","id":1,"method":"\#(method)","params":\#(params)}"#)
        return (try JSONValue.parse(response.body), response.headers.first(name: "X-Bulwark-Verified"), Int(response.status.code))
    }

    /// A transfer from account 0, mined, so receipts and nonces have something to prove.
    static func transfer(_ harness: GatewayHarness) throws -> Bytes32 {
        let chain = harness.simnet.chain
        let transaction = try SignedTransaction.signed(
            kind: .dynamicFee, chainId: chain.chainId, nonce: 0, maxPriorityFeePerGas: [0x3B, 0x9A, 0xCA, 0x00],
            maxFeePerGas: [0x77, 0x35, 0x94, 0x00], gas: 21_000, to: chain.accounts[1].address, value: [0x01], privateKey: chain.accounts[0].privateKey)
        let hash = try chain.submit(raw: transaction.raw)
        harness.simnet.mine(2)
        return hash
    }

    @Test(arguments: [["id": "quicknode-euw1"], ["cloud": "aws", "region": "us-east-1"], ["provider": "quicknode"]])
    func lyingFacesNeverReachTheClient(scope: [String: String]) async throws {
        let harness = try await GatewayHarness.start(blockTime: .seconds(3600), tune: Self.verifying)
        defer { Task { await harness.stop() } }
        let chain = harness.simnet.chain
        let sent = try Self.transfer(harness)
        await harness.router.pollHeads()
        let liars = try await harness.simnet.setFault(.lie, matching: scope)
        #expect(!liars.isEmpty)

        var wrong: [String] = []
        var unverified = 0
        let head = chain.headNumber
        for i in 0..<300 {
            let account = chain.accounts[i % chain.accounts.count].address
            let block = head - UInt64(i % 4)
            let number = JSONValue.quantity(block).stringValue!
            switch i % 5 {
            case 0, 1:
                let answer = try await Self.ask(harness, "eth_getBalance", #"["\#(Hex.encode(account))","\#(number)"]"#)
                if answer.json["result"]?.stringValue != chain.balance(of: account, atBlock: block).map(Hex.encodeQuantity) { wrong.append("balance \(answer.json)") }
                if answer.verified != "true" { unverified += 1 }
            case 2:
                let answer = try await Self.ask(harness, "eth_getTransactionCount", #"["\#(Hex.encode(chain.accounts[0].address))","\#(number)"]"#)
                let minedIn = try #require(chain.blockNumber(ofTransaction: sent))
                if answer.json["result"] != .string(block >= minedIn ? "0x1" : "0x0") { wrong.append("nonce at \(block): \(answer.json)") }
                if answer.verified != "true" { unverified += 1 }
            case 3:
                let answer = try await Self.ask(harness, "eth_getBlockByNumber", #"["\#(number)",true]"#)
                if answer.json["result"]?["hash"]?.stringValue != chain.blockHash(block)?.description { wrong.append("block \(answer.json)") }
                if answer.verified != "true" { unverified += 1 }
            default:
                let answer = try await Self.ask(harness, "eth_getTransactionReceipt", #"["\#(sent.description)"]"#)
                let minedIn = try #require(chain.blockNumber(ofTransaction: sent))
                if answer.json["result"]?["blockHash"]?.stringValue != chain.blockHash(minedIn)?.description { wrong.append("receipt \(answer.json)") }
                if answer.verified != "true" { unverified += 1 }
            }
        }
        #expect(wrong.isEmpty, "\(wrong.count) wrong answers: \(wrong.prefix(3))")
        #expect(unverified == 0)
        // The liars were caught and counted.
        let status = harness.router.status().upstreams.filter { liars.contains($0.id) }
        #expect(status.contains { $0.failedVerifications > 0 }, "\(status.map { ($0.id, $0.failedVerifications, $0.state) })")
    }

    @Test func withOnlyLiarsLeftTheClientGetsMinus32011NotTheLie() async throws {
        let harness = try await GatewayHarness.start(blockTime: .seconds(3600), tune: Self.verifying)
        defer { Task { await harness.stop() } }
        try await harness.simnet.setFault(.lie)
        let account = Hex.encode(harness.simnet.chain.accounts[3].address)
        let answer = try await Self.ask(harness, "eth_getBalance", #"["\#(account)","latest"]"#)
        #expect(answer.status == 502 && answer.json["error"]?["code"] == .number(-32011), "\(answer.json)")
        #expect(answer.json["result"] == nil)
        #expect(answer.verified == "false")
    }

    @Test func codeStorageProofsAndReceiptsAreProvenAndOtherMethodsSayUnverified() async throws {
        let harness = try await GatewayHarness.start(blockTime: .seconds(3600), tune: Self.verifying)
        defer { Task { await harness.stop() } }
        let sent = try Self.transfer(harness)
        await harness.router.pollHeads()
        let account = Hex.encode(harness.simnet.chain.accounts[0].address)

        let code = try await Self.ask(harness, "eth_getCode", #"["\#(account)","latest"]"#)
        #expect(code.json["result"] == .string("0x") && code.verified == "true", "\(code.json)")
        let storage = try await Self.ask(harness, "eth_getStorageAt", #"["\#(account)","0x0","latest"]"#)
        #expect(storage.json["result"] == .string("0x" + String(repeating: "0", count: 64)) && storage.verified == "true", "\(storage.json)")
        let proof = try await Self.ask(harness, "eth_getProof", #"["\#(account)",[],"latest"]"#)
        #expect(proof.json["result"]?["accountProof"] != nil && proof.verified == "true")
        let receipts = try await Self.ask(harness, "eth_getBlockReceipts", #"["\#(JSONValue.quantity(try #require(harness.simnet.chain.blockNumber(ofTransaction: sent))).stringValue!)"]"#)
        #expect(receipts.json["result"]?.arrayValue?.count == 1 && receipts.verified == "true", "\(receipts.json)")
        let byHash = try await Self.ask(harness, "eth_getBlockByHash", #"["\#(try #require(harness.simnet.chain.blockHash(3)).description)",false]"#)
        #expect(byHash.json["result"]?["number"] == .string("0x3") && byHash.verified == "true")

        let gasPrice = try await Self.ask(harness, "eth_gasPrice", "[]")
        #expect(gasPrice.json["result"] != nil && gasPrice.verified == "false")
        let chainId = try await Self.ask(harness, "eth_chainId", "[]")
        #expect(chainId.verified == "true")
    }
}
