import BulwarkServer
import EthereumKit
import Routing
import Simnet
import SimnetTesting
import Testing
import Failsafe

@Suite(.serialized) struct FailoverTests {
    /// With the whole aws/us-east-1 domain failing in each way providers fail, 2,000 mixed
    /// client calls per fault all succeed with answers consistent with the chain.
    @Test(arguments: [Fault.down, .stall, .slow(milliseconds: 1500), .ratelimit, .flaky(probability: 1), .garbage, .wrongchain, .lag(blocks: 10)])
    func domainFailureIsInvisible(fault: Fault) async throws {
        let harness = try await GatewayHarness.start()
        defer { Task { await harness.stop() } }
        try await harness.failUSEast(fault)
        try await Task.sleep(for: .milliseconds(300))  // a few head polls
        let report = await clientLoop(harness, total: 2000)
        #expect(report.calls == 2000)
        #expect(report.failures.isEmpty, "\(fault): \(report.failures.count) failed, first: \(report.failures.first ?? "")")
        #expect(report.inconsistent.isEmpty, "\(fault): \(report.inconsistent.prefix(3))")
    }

    /// The same with every upstream spoken to over HTTP/2 (`protocol: http2`): calls and head
    /// polls are streams, and a domain that fails (closed connections, stalled or reset streams,
    /// garbage answers) is as invisible as over HTTP/1.1.
    @Test(arguments: [Fault.down, .stall, .flaky(probability: 1), .garbage])
    func domainFailureIsInvisibleOverHTTP2(fault: Fault) async throws {
        let harness = try await GatewayHarness.start(tune: { routing in
            for index in routing.upstreams.indices { routing.upstreams[index].http2 = true }
        })
        defer { Task { await harness.stop() } }
        try await harness.failUSEast(fault)
        try await Task.sleep(for: .milliseconds(300))
        let report = await clientLoop(harness, total: 1000)
        #expect(report.calls == 1000)
        #expect(report.failures.isEmpty, "\(fault): \(report.failures.count) failed, first: \(report.failures.first ?? "")")
        #expect(report.inconsistent.isEmpty, "\(fault): \(report.inconsistent.prefix(3))")
        let healthy = harness.simnet.faces.filter { $0.fault == .none }
        #expect(healthy.allSatisfy { $0.requestsReceived > 0 && $0.http2RequestsReceived == $0.requestsReceived },
                "every request reached the upstreams as HTTP/2: \(healthy.map { ($0.id, $0.http2RequestsReceived, $0.requestsReceived) })")
    }

    @Test func allUpstreamsDownGivesReasonsWithinTheDeadline() async throws {
        var limits = GatewayLimits()
        limits.requestTimeout = .seconds(3)
        let harness = try await GatewayHarness.start(limits: limits)
        defer { Task { await harness.stop() } }
        try await harness.simnet.setFault(.down)
        try await Task.sleep(for: .milliseconds(300))
        let start = ContinuousClock.now
        let response = try await HTTPTestClient.request(.POST, harness.url, body: #"{"jsonrpc":"2.0","id":7,"method":"eth_getBalance","params":["0x0000000000000000000000000000000000000001","latest"]}"#)
        #expect(ContinuousClock.now - start < .seconds(4))
        #expect(response.status.code == 503)
        let json = try JSONValue.parse(response.body)
        #expect(json["id"] == .number(7))
        #expect(json["error"]?["code"] == .number(-32010))
        let attempts = json["error"]?["data"]?["attempts"]?.arrayValue ?? []
        #expect(Set(attempts.compactMap { $0["upstream"]?.stringValue }) == Set(harness.simnet.faces.map(\.id)), "\(response.text)")
        #expect(attempts.allSatisfy { ($0["outcome"]?.stringValue ?? "").contains("refused") || ($0["outcome"]?.stringValue ?? "").contains("circuit open") }, "\(response.text)")
        // /readyz says why.
        let ready = try await HTTPTestClient.request(.GET, harness.url.replacingOccurrences(of: "/eth", with: "/readyz"))
        #expect(ready.status == .serviceUnavailable)
    }

    @Test func transactionsAreSentToSeveralDomains() async throws {
        let harness = try await GatewayHarness.start()
        defer { Task { await harness.stop() } }
        let tx = try SignedTransaction.signed(
            kind: .dynamicFee, chainId: harness.simnet.chain.chainId, nonce: 0,
            maxPriorityFeePerGas: [0x3B, 0x9A, 0xCA, 0x00], maxFeePerGas: [0x77, 0x35, 0x94, 0x00],
            gas: 21_000, to: harness.simnet.chain.accounts[1].address, value: [1], privateKey: harness.simnet.chain.accounts[0].privateKey
        )
        let response = try await HTTPTestClient.request(.POST, harness.url, body: #"{"jsonrpc":"2.0","id":1,"method":"eth_sendRawTransaction","params":["\#(Hex.encode(tx.raw))"]}"#)
        #expect(try JSONValue.parse(response.body)["result"] == .string(tx.hash.description), "\(response.text)")
        let reached = harness.simnet.faces.filter { $0.transactionsReceived > 0 }
        #expect(Set(reached.map { "\($0.provider)/\($0.cloud)/\($0.region)" }).count >= 2)
        // Sending it again: "already known" everywhere still answers with the hash.
        let again = try await HTTPTestClient.request(.POST, harness.url, body: #"{"jsonrpc":"2.0","id":2,"method":"eth_sendRawTransaction","params":["\#(Hex.encode(tx.raw))"]}"#)
        #expect(try JSONValue.parse(again.body)["result"] == .string(tx.hash.description), "\(again.text)")
    }

    @Test func trafficReturnsToARecoveredDomain() async throws {
        let harness = try await GatewayHarness.start()
        defer { Task { await harness.stop() } }
        try await harness.failUSEast(.down)
        _ = await clientLoop(harness, total: 200)
        try await harness.failUSEast(.none)
        let before = harness.simnet.faces.filter { $0.cloud == "aws" }.map(\.requestsReceived).reduce(0, +)
        try await Task.sleep(for: .seconds(2))
        _ = await clientLoop(harness, total: 400)
        let after = harness.simnet.faces.filter { $0.cloud == "aws" }.map(\.requestsReceived).reduce(0, +)
        #expect(after - before > 20, "aws faces received \(after - before) requests after coming back")
        let status = harness.router.status()
        #expect(status.upstreams.filter { $0.domain.cloud == "aws" }.allSatisfy { $0.state == "healthy" })
    }

    /// A block beyond the head (not mined yet) is asked of every face when none is ahead: a face
    /// answering garbage from the start (its head never known) is not taken to be the only one
    /// that might have it. (It was: every such call failed with -32010 until its circuit opened.)
    @Test func aBlockNotMinedYetIsNotLeftToAFaceWithAnUnknownHead() async throws {
        let simnet = try await SimnetHarness.start()
        simnet.mine(20)
        try await simnet.setFault(.garbage, matching: ["id": "own-node"])
        let harness = try await GatewayHarness.start(simnet: simnet)
        defer { Task { await harness.stop(); await simnet.stop() } }
        for block in 1_000..<1_008 {
            let answer = try await HTTPTestClient.call(harness.url, "eth_getBlockByNumber", [.string("0x" + String(block, radix: 16)), .bool(false)])
            #expect(answer == .null, "block \(block): \(answer)")
        }
        #expect(harness.router.status().upstreams.first { $0.id == "own-node" }?.successes == 0)
    }

    /// Hedging: one face answering after 2 s does not drag the client's tail latency.
    @Test func slowFaceDoesNotDragTheTail() async throws {
        let harness = try await GatewayHarness.start()
        defer { Task { await harness.stop() } }
        let healthy = await clientLoop(harness, total: 600, concurrency: 8)
        try await harness.simnet.setFault(.slow(milliseconds: 2000), matching: ["id": "quicknode-euw1"])
        let slowed = await clientLoop(harness, total: 600, concurrency: 8)
        #expect(slowed.failures.isEmpty)
        let healthyP99 = max(healthy.quantile(0.99), .milliseconds(50))
        #expect(slowed.quantile(0.99) < healthyP99 * 3 + .milliseconds(300),
                "p99 healthy \(healthy.quantile(0.99)), with a 2 s face \(slowed.quantile(0.99))")
        print("tail latency: healthy p50 \(healthy.quantile(0.5)) p99 \(healthy.quantile(0.99)); one face at 2 s: p50 \(slowed.quantile(0.5)) p99 \(slowed.quantile(0.99))")
    }
}

@Suite struct CrossCheckTests {
    /// A face that lies about balances is outvoted by two other failure domains: no client sees its lie.
    @Test(arguments: [["id": "quicknode-euw1"], ["cloud": "aws", "region": "us-east-1"]])
    func lyingUpstreamsAreOutvoted(scope: [String: String]) async throws {
        let harness = try await GatewayHarness.start(tune: { $0.crossCheckedMethods = RouterConfiguration.accountReads })
        defer { Task { await harness.stop() } }
        try await harness.simnet.setFault(.lie, matching: scope)
        let funded = "0x3635c9adc5dea00000"  // 1000 ether, untouched development accounts
        var wrong = 0
        for i in 0..<200 {
            let account = Hex.encode(harness.simnet.chain.accounts[2 + i % 8].address)
            let answer = try await HTTPTestClient.call(harness.url, "eth_getBalance", [.string(account), .string("latest")])
            if answer != .string(funded) { wrong += 1 }
        }
        #expect(wrong == 0, "\(wrong) of 200 balances were the lie")
        let status = harness.router.status()
        let liars = status.upstreams.filter { upstream in scope.allSatisfy { key, value in
            key == "id" ? upstream.id == value : key == "cloud" ? upstream.domain.cloud == value : upstream.domain.region == value
        } }
        #expect(liars.allSatisfy { $0.failures > 0 || $0.successes == 0 }, "the liars were counted as failing")
    }
}
