import BulwarkServer
import EthereumKit
import Failsafe
import Routing
import Simnet
import SimnetTesting
import Synchronization
import Testing

/// A client batch sent on to an upstream that takes batches (`maxBatch`) as one JSON-RPC batch,
/// and what happens when that upstream fails it.
@Suite(.serialized) struct BatchForwardingTests {
    static let accounts = (1...6).map { String(format: "0x%040x", $0) }

    static func batch(block: String) -> String {
        "[" + accounts.enumerated().map { index, account in
            #"{"jsonrpc":"2.0","id":\#(index + 100),"method":"eth_getBalance","params":["\#(account)","\#(block)"]}"#
        }.joined(separator: ",") + "]"
    }

    /// The answers of the batch's calls, by client id.
    static func results(_ text: String) throws -> [Int: JSONValue] {
        var results: [Int: JSONValue] = [:]
        for answer in try JSONValue.parse(Array(text.utf8)).arrayValue ?? [] {
            guard case .number(let id)? = answer["id"] else { continue }
            results[Int(id)] = answer["result"] ?? answer["error"] ?? .null
        }
        return results
    }

    /// The answers to `batch(block:)` as they arrive on `connection`, by client id.
    static func batchAnswers(on connection: RawConnection) async throws -> [Int: JSONValue] {
        let reply = try await connection.read(timeout: .seconds(10)) { text in (100..<106).allSatisfy { text.contains(#""id":\#($0)"#) } }
        return try results(String(reply[try #require(reply.range(of: "\r\n\r\n")).upperBound...]))
    }

    /// The same calls one at a time, through the same gateway: the ground truth for the batch.
    static func singleAnswers(_ harness: GatewayHarness, block: String) async throws -> [Int: JSONValue] {
        var answers: [Int: JSONValue] = [:]
        for (index, account) in accounts.enumerated() {
            let body = #"{"jsonrpc":"2.0","id":1,"method":"eth_getBalance","params":["\#(account)","\#(block)"]}"#
            answers[index + 100] = try JSONValue.parse(try await HTTPTestClient.request(.POST, harness.url, body: body).body)["result"]
        }
        return answers
    }

    @Test func aClientBatchGoesUpstreamAsOneRequest() async throws {
        let harness = try await GatewayHarness.start(pollsHeads: false) { routing in
            for index in routing.upstreams.indices { routing.upstreams[index].maxBatch = 10 }
        }
        defer { Task { await harness.stop() } }
        let block = "0x" + String(try #require(harness.router.consensusHead), radix: 16)
        let before = harness.simnet.faces.map(\.requestsReceived).reduce(0, +)
        let response = try await HTTPTestClient.request(.POST, harness.url, body: Self.batch(block: block))
        let after = harness.simnet.faces.map(\.requestsReceived).reduce(0, +)
        #expect(response.status.code == 200)
        // One batch request; on a busy machine a pooled connection the upstream closed meanwhile
        // costs one resend on a new connection.
        #expect(after - before <= 2, "six calls, one upstream request: \(after - before)")
        let results = try Self.results(response.text)
        #expect(results.count == 6)
        #expect(results == (try await Self.singleAnswers(harness, block: block)), "\(response.text)")
        #expect(results.values.allSatisfy { $0.stringValue?.hasPrefix("0x") == true })
    }

    /// The same batch from 20 clients at once (a fleet of keepers polling the same balances): its
    /// calls go upstream about once, not 20 times over, and every client gets every answer.
    @Test func identicalConcurrentBatchesShareTheirUpstreamCalls() async throws {
        let harness = try await GatewayHarness.start(pollsHeads: false) { routing in
            for index in routing.upstreams.indices { routing.upstreams[index].maxBatch = 10 }
        }
        defer { Task { await harness.stop() } }
        let block = "0x" + String(try #require(harness.router.consensusHead), radix: 16)
        // Slow faces, so that the batches overlap; the connections are open before any batch is sent.
        try await harness.simnet.setFault(.slow(milliseconds: 600))
        var connections: [RawConnection] = []
        for _ in 0..<20 { connections.append(try await RawConnection.open(port: harness.port)) }
        defer { for connection in connections { connection.close() } }
        try await Task.sleep(for: .milliseconds(300))
        let before = harness.simnet.faces.map(\.requestsReceived).reduce(0, +)
        let request = EdgeServerTests.post("/eth", Self.batch(block: block))
        await withTaskGroup(of: Void.self) { group in
            for connection in connections { group.addTask { try? await connection.send(request) } }
        }
        var answers: [[Int: JSONValue]] = []
        for connection in connections { answers.append(try await Self.batchAnswers(on: connection)) }
        let upstreamRequests = harness.simnet.faces.map(\.requestsReceived).reduce(0, +) - before
        try await harness.simnet.setFault(.none)
        let truth = try await Self.singleAnswers(harness, block: block)
        #expect(answers.count == 20)
        #expect(answers.allSatisfy { $0 == truth }, "\(answers)")
        // 20 batches sent on would be 20 upstream requests or more (hedges included).
        #expect(upstreamRequests < 8, "\(upstreamRequests) upstream requests for 20 identical batches")
    }

    /// A call inside a batch that another client's single call is already waiting for is not sent twice.
    @Test func aBatchedCallJoinsTheSameSingleCallOnItsWay() async throws {
        let harness = try await GatewayHarness.start(pollsHeads: false) { routing in
            for index in routing.upstreams.indices { routing.upstreams[index].maxBatch = 10 }
            // No hedges of the single call: every call counted upstream below is the batch's.
            routing.hedging = .disabled
        }
        defer { Task { await harness.stop() } }
        let block = "0x" + String(try #require(harness.router.consensusHead), radix: 16)
        try await harness.simnet.setFault(.slow(milliseconds: 600))
        let single = try await RawConnection.open(port: harness.port)
        let batching = try await RawConnection.open(port: harness.port)
        defer { single.close(); batching.close() }
        let call = #"{"jsonrpc":"2.0","id":7,"method":"eth_getBalance","params":["\#(Self.accounts[0])","\#(block)"]}"#
        try await single.send(EdgeServerTests.post("/eth", call))
        try await Task.sleep(for: .milliseconds(150))
        let callsBefore = harness.simnet.faces.map(\.callsReceived).reduce(0, +)
        try await batching.send(EdgeServerTests.post("/eth", Self.batch(block: block)))
        let singleReply = try await single.read(timeout: .seconds(10)) { $0.contains(#""result":"#) }
        let batchAnswers = try await Self.batchAnswers(on: batching)
        let callsSent = harness.simnet.faces.map(\.callsReceived).reduce(0, +) - callsBefore
        try await harness.simnet.setFault(.none)
        let truth = try await Self.singleAnswers(harness, block: block)
        #expect(batchAnswers == truth, "\(batchAnswers)")
        let singleAnswer = try JSONValue.parse(Array(try #require(singleReply.components(separatedBy: "\r\n\r\n").last).utf8))
        #expect(singleAnswer["result"] == truth[100])
        // The batch's other five calls went upstream, its first waited for the single one: 5 calls, not 6
        // (10, not 12, if a pooled connection the upstream closed meanwhile cost a resend).
        #expect([5, 10].contains(callsSent), "\(callsSent) calls sent upstream for the batch")
    }

    /// The upstream that takes batches answers garbage: every call is made on its own elsewhere, none is lost.
    @Test(arguments: [Fault.garbage, .ratelimit, .down])
    func aFailedBatchIsMadeCallByCall(fault: Fault) async throws {
        let harness = try await GatewayHarness.start(pollsHeads: false) { routing in
            for index in routing.upstreams.indices where routing.upstreams[index].id == "quicknode-euw1" { routing.upstreams[index].maxBatch = 10 }
        }
        defer { Task { await harness.stop() } }
        let block = "0x" + String(try #require(harness.router.consensusHead), radix: 16)
        let truth = try await Self.singleAnswers(harness, block: block)
        try await harness.simnet.setFault(fault, matching: ["id": "quicknode-euw1"])
        let batching = try #require(harness.simnet.face("quicknode-euw1"))
        let before = batching.requestsReceived
        let response = try await HTTPTestClient.request(.POST, harness.url, body: Self.batch(block: block))
        #expect(batching.requestsReceived > before || fault == .down, "the batch went to the upstream that takes batches")
        #expect(response.status.code == 200)
        #expect(try Self.results(response.text) == truth, "\(fault): \(response.text)")
    }

    /// An upstream configured with `maxBatch` that answers batches with a single JSON-RPC error: every
    /// call is made on its own, and its health does not suffer for it.
    @Test func anUpstreamThatRefusesBatchesStillAnswersEveryCallAndStaysHealthy() async throws {
        let batches = Mutex(0)
        let singles = Mutex(0)
        let upstream = LoopbackHTTPServer(port: 0) { request in
            if request.body.first == UInt8(ascii: "[") {
                batches.withLock { $0 += 1 }
                return .json(#"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"batch requests are not supported"}}"#)
            }
            singles.withLock { $0 += 1 }
            return .json(#"{"jsonrpc":"2.0","id":1,"result":"0x5"}"#)
        }
        let port = try await upstream.start()
        defer { Task { await upstream.stop() } }
        let router = try ChainRouter(configuration: RouterConfiguration(chainName: "eth", chainId: 1, upstreams: [
            UpstreamSpec(id: "no-batches", url: "http://127.0.0.1:\(port)", domain: FailureDomain(provider: "p", cloud: "c", region: "r"), maxBatch: 10),
        ]))
        defer { Task { await router.shutdown() } }
        let gateway = Gateway(chains: [GatewayChain(name: "eth", router: router)])
        let response = await gateway.handle(route: "eth", body: Array(Self.batch(block: "0x1").utf8))
        #expect(response.status == 200)
        let results = try Self.results(response.body)
        #expect(results.count == Self.accounts.count && results.values.allSatisfy { $0 == .string("0x5") }, "\(response.body)")
        #expect(batches.withLock { $0 } == 1 && singles.withLock { $0 } == Self.accounts.count)
        let status = try #require(router.status().upstreams.first)
        #expect(status.failures == 0 && status.state == "healthy", "\(status)")
    }

    /// Local answers, invalid items and forwarded calls in one batch: each answered as it would be alone.
    @Test func batchedCallsMixWithTheRest() async throws {
        let harness = try await GatewayHarness.start(pollsHeads: false) { routing in
            for index in routing.upstreams.indices { routing.upstreams[index].maxBatch = 10 }
        }
        defer { Task { await harness.stop() } }
        let block = "0x" + String(try #require(harness.router.consensusHead), radix: 16)
        let truth = try await Self.singleAnswers(harness, block: block)
        let body = "[" + #"{"jsonrpc":"2.0","id":1,"method":"eth_chainId"},{"jsonrpc":"1.0","id":2,"method":"eth_chainId"},"#
            + String(Self.batch(block: block).dropFirst())
        let results = try Self.results(try await HTTPTestClient.request(.POST, harness.url, body: body).text)
        #expect(results[1] == .quantity(harness.simnet.chain.chainId))
        #expect(results[2]?["code"] == .number(-32600))
        #expect(truth.allSatisfy { results[$0.key] == $0.value })
    }
}
