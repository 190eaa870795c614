import BulwarkServer
import Cache
import EthereumKit
import Foundation
import Logging
import Routing
import Simnet
import SimnetTesting
import Testing

/// Verified mode (SPEC section 5) on simnet: faces that lie about balances and forge proofs
/// never get a wrong value to the client; with only liars left, the client gets -32011.
@Suite(.serialized) struct VerifiedModeTests {
    /// Reads per lying scope: three scopes make about two thousand reads in all.
    static let readsPerScope = 700

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
        // Leave the liars and two honest faces in service, so that the liars are asked often.
        let honest = harness.simnet.faces.map(\.id).filter { !liars.contains($0) }
        for id in honest.dropFirst(2) { _ = harness.router.startDrill(matching: ["id": id], for: .seconds(600)) }

        var wrong: [String] = []
        var unverified = 0
        let head = chain.headNumber
        let contract = Hex.encode(SimulatedChain.counterContract)
        for i in 0..<Self.readsPerScope {
            let account = chain.accounts[i % chain.accounts.count].address
            let block = head - UInt64(i % 4)
            let number = JSONValue.quantity(block).stringValue!
            switch i % 8 {
            case 5:
                let answer = try await Self.ask(harness, "eth_getCode", #"["\#(contract)","\#(number)"]"#)
                if answer.json["result"] != .string("0x600160005401600055") { wrong.append("code \(answer.json)") }
                if answer.verified != "true" { unverified += 1 }
            case 6:
                let answer = try await Self.ask(harness, "eth_getStorageAt", #"["\#(contract)","0x1","\#(number)"]"#)
                if answer.json["result"]?.quantityValue != 42 { wrong.append("storage \(answer.json)") }
                if answer.verified != "true" { unverified += 1 }
            case 7:
                let answer = try await Self.ask(harness, "eth_getLogs", #"[{"fromBlock":"0x1","toBlock":"\#(number)"}]"#)
                if answer.json["result"] != .array([]) { wrong.append("logs \(answer.json)") }
                if answer.verified != "true" { unverified += 1 }
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
        // With every honest face out of service, a read can only go to the liars: it is refused, and they are caught.
        for id in honest { _ = harness.router.startDrill(matching: ["id": id], for: .seconds(600)) }
        let onlyLiars = try await Self.ask(harness, "eth_getBalance", #"["\#(Hex.encode(chain.accounts[7].address))","\#(JSONValue.quantity(head).stringValue!)"]"#)
        #expect(onlyLiars.json["error"]?["code"] == .number(-32011), "\(onlyLiars.json)")
        let status = harness.router.status().upstreams.filter { liars.contains($0.id) }
        #expect(status.contains { $0.failedVerifications > 0 }, "\(status.map { ($0.id, $0.failedVerifications, $0.state) })")
    }

    /// Logs come from receipts proven against receiptsRoot, for every block whose bloom can match:
    /// the same logs a node returns, filtered by address and topics.
    @Test func logsAreBuiltFromProvenReceipts() async throws {
        let harness = try await GatewayHarness.start(blockTime: .seconds(3600), tune: Self.verifying)
        defer { Task { await harness.stop() } }
        let chain = harness.simnet.chain
        let contract = Hex.encode(SimulatedChain.counterContract)
        for sender in [4, 5, 4] {
            let nonce = sender == 4 && chain.headNumber > 21 ? UInt64(1) : 0
            let call = try SignedTransaction.signed(
                kind: .dynamicFee, chainId: chain.chainId, nonce: nonce, maxPriorityFeePerGas: [0x3B, 0x9A, 0xCA, 0x00],
                maxFeePerGas: [0x77, 0x35, 0x94, 0x00], gas: 60_000, to: SimulatedChain.counterContract, value: [], input: [0xAB],
                privateKey: chain.accounts[sender].privateKey)
            _ = try chain.submit(raw: call.raw)
            harness.simnet.mine(3)
        }
        await harness.router.pollHeads()
        let senderTopic = "0x" + String(repeating: "0", count: 24) + Hex.encode(chain.accounts[4].address, prefix: false)
        for filter in [
            #"{"fromBlock":"0x1","toBlock":"latest","address":"\#(contract)"}"#,
            #"{"fromBlock":"0x1","toBlock":"latest","address":["\#(contract)"],"topics":[null,"\#(senderTopic)"]}"#,
            #"{"fromBlock":"0x1","toBlock":"0x14"}"#,
        ] {
            let direct = try await HTTPTestClient.call(harness.simnet.faces[0].url, "eth_getLogs", [try JSONValue.parse(Array(filter.utf8))])
            let answer = try await Self.ask(harness, "eth_getLogs", "[\(filter)]")
            #expect(answer.json["result"] == direct, "\(filter): \(answer.json)")
            #expect(answer.verified == "true")
        }
        let all = try await Self.ask(harness, "eth_getLogs", #"[{"fromBlock":"0x1","toBlock":"latest","address":"\#(contract)"}]"#)
        #expect(all.json["result"]?.arrayValue?.count == 3)
        let matchesNothing = try await Self.ask(harness, "eth_getLogs", #"[{"fromBlock":"earliest","toBlock":"latest","topics":[["0x\#(String(repeating: "1", count: 64))"]]}]"#)
        #expect(matchesNothing.json["result"] == .array([]) && matchesNothing.verified == "true", "a filter no bloom can match: \(matchesNothing.json)")
    }

    /// After a reorg, headers trusted on the abandoned branch are not used: reads at the replaced
    /// heights are proven against the new branch, and no honest face is accused.
    @Test func aReorgReplacesTrustedHeadersWithoutAccusingAnyone() async throws {
        let harness = try await GatewayHarness.start(blockTime: .seconds(3600), tune: Self.verifying)
        defer { Task { await harness.stop() } }
        let chain = harness.simnet.chain
        let account = chain.accounts[6]
        let head = chain.headNumber
        for number in (head - 2)...head {
            let answer = try await Self.ask(harness, "eth_getBlockByNumber", #"["\#(JSONValue.quantity(number).stringValue!)",false]"#)
            #expect(answer.verified == "true")
        }
        // Spend from the account in the new branch: its balance at the replaced heights changes.
        let transfer = try SignedTransaction.signed(
            kind: .legacy, chainId: chain.chainId, nonce: 0, gasPrice: [0x3B, 0x9A, 0xCA, 0x00], gas: 21_000,
            to: chain.accounts[1].address, value: [0x01, 0x00, 0x00], privateKey: account.privateKey)
        _ = try chain.submit(raw: transfer.raw)
        let reorg = try harness.simnet.reorg(depth: 3)
        await harness.router.pollHeads()
        for number in (head - 2)...reorg.head {
            let block = try await Self.ask(harness, "eth_getBlockByNumber", #"["\#(JSONValue.quantity(number).stringValue!)",false]"#)
            #expect(block.json["result"]?["hash"]?.stringValue == chain.blockHash(number)?.description && block.verified == "true", "block \(number): \(block.json)")
            let balance = try await Self.ask(harness, "eth_getBalance", #"["\#(Hex.encode(account.address))","\#(JSONValue.quantity(number).stringValue!)"]"#)
            #expect(balance.json["result"]?.stringValue == chain.balance(of: account.address, atBlock: number).map(Hex.encodeQuantity) && balance.verified == "true",
                    "balance at \(number): \(balance.json)")
        }
        let accused = harness.router.status().upstreams.filter { $0.failedVerifications > 0 }.map(\.id)
        #expect(accused.isEmpty, "honest faces accused after a reorg: \(accused)")
    }

    /// Final trusted headers are kept in the cache store: a restarted gateway that can reach only
    /// one failure domain (no quorum) still proves reads at blocks whose headers it trusted before.
    @Test func trustedHeadersOutliveARestartInTheCacheStore() async throws {
        let file = try TemporarySQLiteFile()
        defer { file.remove() }
        let path = file.path
        let simnet = try await SimnetHarness.start()
        defer { Task { await simnet.stop() } }
        simnet.mine(30)
        let accounts = simnet.chain.accounts.map { Hex.encode($0.address) }

        let firstStore = try SQLiteCacheStore(path: path, maxBytes: 64 << 20, logger: Logger(label: "test"))
        let first = try await GatewayHarness.start(simnet: simnet, cache: .init(store: firstStore), tune: Self.verifying)
        #expect(try await Self.ask(first, "eth_getBalance", #"["\#(accounts[1])","0x5"]"#).verified == "true")
        await first.stop()
        await firstStore.close()

        // Only one failure domain left: no new header can reach a quorum of two.
        let survivor = simnet.faces[0]
        for face in simnet.faces where face.cloud != survivor.cloud || face.region != survivor.region || face.provider != survivor.provider {
            try await face.setFault(.down)
        }
        let secondStore = try SQLiteCacheStore(path: path, maxBytes: 64 << 20, logger: Logger(label: "test"))
        let second = try await GatewayHarness.start(simnet: simnet, cache: .init(store: secondStore), tune: Self.verifying)
        defer { Task { await second.stop(); await secondStore.close() } }
        let kept = try await Self.ask(second, "eth_getBalance", #"["\#(accounts[2])","0x5"]"#)
        #expect(kept.verified == "true" && kept.json["result"]?.stringValue == simnet.chain.balance(of: simnet.chain.accounts[2].address, atBlock: 5).map(Hex.encodeQuantity),
                "\(kept.json)")
        let unkept = try await Self.ask(second, "eth_getBalance", #"["\#(accounts[2])","0x6"]"#)
        #expect(unkept.json["error"]?["code"] == .number(-32011), "\(unkept.json)")
    }

    /// A stalled face does not hold verified reads up: a slow attempt is hedged with another domain,
    /// and the stalled face's circuit opens.
    @Test func aStalledFaceDoesNotHoldVerifiedReadsUp() async throws {
        let harness = try await GatewayHarness.start(blockTime: .seconds(3600), tune: Self.verifying)
        defer { Task { await harness.stop() } }
        let chain = harness.simnet.chain
        // Warm the latency windows, then stall one face in every domain but one.
        for i in 0..<40 { _ = try await Self.ask(harness, "eth_getBalance", #"["\#(Hex.encode(chain.accounts[i % 10].address))","0x5"]"#) }
        try await harness.simnet.setFault(.stall, matching: ["id": harness.simnet.faces[0].id])
        var slow = 0
        for i in 0..<100 {
            let start = ContinuousClock.now
            let answer = try await Self.ask(harness, "eth_getBalance", #"["\#(Hex.encode(chain.accounts[i % 10].address))","0x\#(String(3 + i % 10, radix: 16))"]"#)
            #expect(answer.verified == "true", "\(answer.json)")
            if ContinuousClock.now - start > .milliseconds(1_500) { slow += 1 }
        }
        // A read left waiting on the stalled face would take its whole attempt timeout (2 s here).
        #expect(slow <= 2, "\(slow) of 100 verified reads waited for the stalled face")
    }

    /// A total outage is an outage (-32010), not a failed proof, so verified answers survive it
    /// as stale ones (they were proven when they were kept).
    @Test func aTotalOutageServesProvenAnswersStale() async throws {
        let harness = try await GatewayHarness.start(blockTime: .seconds(3600),
                                                     cache: .init(store: MemoryCacheStore(maxBytes: 8 << 20), staleIfError: .seconds(60))) {
            Self.verifying(&$0)
            $0.headFreshness = .milliseconds(300)
        }
        defer { Task { await harness.stop() } }
        let params = #"["\#(Hex.encode(harness.simnet.chain.accounts[3].address))","latest"]"#
        let proven = try await Self.ask(harness, "eth_getBalance", params)
        #expect(proven.verified == "true")
        try await harness.simnet.setFault(.down)
        try await Task.sleep(for: .seconds(1))
        let response = try await HTTPTestClient.request(.POST, harness.url, body: #"{"jsonrpc":"2.0","id":1,"method":"eth_getBalance","params":\#(params)}"#)
        #expect(response.headers.first(name: "X-Bulwark-Cache") == "stale", "\(response.text)")
        #expect(try JSONValue.parse(response.body)["result"] == proven.json["result"])
        let never = try await Self.ask(harness, "eth_getBalance", #"["\#(Hex.encode(harness.simnet.chain.accounts[4].address))","latest"]"#)
        #expect(never.json["error"]?["code"] == .number(-32010), "\(never.json)")
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
