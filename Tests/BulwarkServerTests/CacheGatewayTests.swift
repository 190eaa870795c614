import BulwarkServer
import Cache
import EthereumKit
import Failsafe
import Foundation
import Logging
import PostgresCache
import PostgresTesting
import Routing
import Simnet
import SimnetTesting
import Testing

/// The cache as a client sees it (SPEC section 6): final answers served without upstream
/// calls, head answers only for their head, stale answers during a total outage, a SQLite
/// cache that outlives the gateway, and nothing from a branch a reorg abandoned.
@Suite(.serialized) struct CacheGatewayTests {
    static func memory(staleIfError: Duration? = nil) -> ResponseCache.Configuration {
        .init(store: MemoryCacheStore(maxBytes: 16 << 20), staleIfError: staleIfError)
    }

    /// Heads are polled only when the test says so (`pollsHeads: false`), so that upstream request
    /// counts move only with client calls; the head stays current meanwhile.
    static func pollOnDemand(_ routing: inout RouterConfiguration) {
        routing.headFreshness = .seconds(3600)
        routing.finalityDepth = 8  // as simnet's `finalized`, in case a poll misses it
        // No hedges: a hedge that loses can still reach a face after the answer, and be counted.
        routing.hedging = try! HedgingPolicy(minimumDelay: .seconds(5), maximumDelay: .seconds(5), delayWithoutLatencyData: .seconds(5), maximumHedges: 1)
    }

    /// Polls until the gateway's consensus head is the chain's (a poll can miss its deadline on a busy machine).
    static func pollUntilCurrent(_ harness: GatewayHarness) async {
        for _ in 0..<20 {
            await harness.router.pollHeads()
            if harness.router.consensusHead == harness.simnet.chain.headNumber { return }
        }
    }

    struct Answer {
        var status: Int
        var cache: String?
        var staleAge: String?
        var json: JSONValue
        var result: JSONValue? { json["result"] }
    }

    static func ask(_ harness: GatewayHarness, _ method: String, _ params: String) async throws -> Answer {
        let response = try await HTTPTestClient.request(.POST, harness.url, body: #"{"jsonrpc":"2.0","id":7,"method":"\#(method)","params":\#(params)}"#)
        return Answer(status: Int(response.status.code), cache: response.headers.first(name: "X-Bulwark-Cache"),
                      staleAge: response.headers.first(name: "X-Bulwark-Stale-Age"), json: try JSONValue.parse(response.body))
    }

    static func upstreamRequests(_ simnet: Simnet) -> Int { simnet.faces.reduce(0) { $0 + $1.requestsReceived } }

    @Test func finalAnswersAreServedWithoutAskingAnyUpstream() async throws {
        let harness = try await GatewayHarness.start(cache: Self.memory(), pollsHeads: false, tune: Self.pollOnDemand)
        defer { Task { await harness.stop() } }
        let hash = try #require(harness.simnet.chain.blockHash(5))
        for (method, params) in [("eth_getBlockByNumber", #"["0x5",true]"#), ("eth_getBlockByHash", #"["\#(hash.description)",false]"#),
                                 ("eth_getBalance", #"["\#(Hex.encode(harness.simnet.chain.accounts[0].address))","0x3"]"#)] {
            let first = try await Self.ask(harness, method, params)
            #expect(first.cache == "miss" && first.result != nil, "\(method): \(first.json)")
            let before = Self.upstreamRequests(harness.simnet)
            let second = try await Self.ask(harness, method, params)
            #expect(second.cache == "hit", "\(method)")
            #expect(second.json == first.json, "\(method): the cached answer differs")
            #expect(Self.upstreamRequests(harness.simnet) == before, "\(method): a hit went to an upstream")
        }
        let block = try #require(try await Self.ask(harness, "eth_getBlockByNumber", #"["0x5",false]"#).result)
        #expect(block["hash"]?.stringValue == hash.description)

        // A batch is a hit only if every part is.
        let cached = #"{"jsonrpc":"2.0","id":1,"method":"eth_getBlockByNumber","params":["0x5",true]}"#
        let allHits = try await HTTPTestClient.request(.POST, harness.url, body: "[\(cached),{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"eth_chainId\"}]")
        #expect(allHits.headers.first(name: "X-Bulwark-Cache") == "hit")
        let mixed = try await HTTPTestClient.request(.POST, harness.url, body: #"[\#(cached),{"jsonrpc":"2.0","id":2,"method":"eth_getBlockByNumber","params":["0x6",true]}]"#)
        #expect(mixed.headers.first(name: "X-Bulwark-Cache") == "miss")
        #expect(try JSONValue.parse(mixed.body).arrayValue?.count == 2)
    }

    @Test func headAnswersLiveOnlyUntilTheHeadMoves() async throws {
        let harness = try await GatewayHarness.start(cache: Self.memory(), pollsHeads: false, tune: Self.pollOnDemand)
        defer { Task { await harness.stop() } }
        let account = harness.simnet.chain.accounts[0].address
        let params = #"["\#(Hex.encode(account))","latest"]"#
        #expect(try await Self.ask(harness, "eth_getBalance", params).cache == "miss")
        #expect(try await Self.ask(harness, "eth_getBalance", params).cache == "hit")

        // Spend from the account, mine it, let the gateway see the new head: the next read is fresh.
        let transfer = try SignedTransaction.signed(
            kind: .legacy, chainId: harness.simnet.chain.chainId, nonce: 0, gasPrice: [0x3b, 0x9a, 0xca, 0x00], gas: 21_000,
            to: Array(repeating: 0x42, count: 20), value: [0x01, 0x00], privateKey: harness.simnet.chain.accounts[0].privateKey)
        _ = try harness.simnet.chain.submit(raw: transfer.raw)
        let head = harness.simnet.mine()
        await Self.pollUntilCurrent(harness)
        let fresh = try await Self.ask(harness, "eth_getBalance", params)
        #expect(fresh.cache == "miss")
        let truth = try #require(harness.simnet.chain.balance(of: account, atBlock: head))
        #expect(fresh.result == .string(Hex.encodeQuantity(truth)))
        // Never cached: pending state.
        #expect(try await Self.ask(harness, "eth_getBalance", #"["\#(Hex.encode(account))","pending"]"#).cache == "miss")
        #expect(try await Self.ask(harness, "eth_getBalance", #"["\#(Hex.encode(account))","pending"]"#).cache == "miss")
    }

    @Test func aTotalOutageIsAnsweredStaleUntilStaleIfErrorThenWithMinus32010() async throws {
        let harness = try await GatewayHarness.start(cache: Self.memory(staleIfError: .seconds(4))) { $0.headFreshness = .milliseconds(300) }
        defer { Task { await harness.stop() } }
        let params = #"["\#(Hex.encode(harness.simnet.chain.accounts[1].address))","latest"]"#
        let good = try await Self.ask(harness, "eth_getBalance", params)
        let answeredAt = ContinuousClock.now
        let head = try #require(try await Self.ask(harness, "eth_blockNumber", "[]").result)
        #expect(good.status == 200 && good.result != nil)

        try await harness.simnet.setFault(.down)
        // Once no upstream has answered a head poll for `headFreshness`, the head is not current.
        try await Task.sleep(for: .seconds(1))
        let stale = try await Self.ask(harness, "eth_getBalance", params)
        #expect(stale.status == 200 && stale.cache == "stale", "\(stale.json)")
        #expect(stale.result == good.result)
        #expect(stale.staleAge.flatMap(Int.init).map { (1...4).contains($0) } == true, "X-Bulwark-Stale-Age: \(stale.staleAge ?? "none")")
        let staleHead = try await Self.ask(harness, "eth_blockNumber", "[]")
        // The last head an upstream confirmed: at least the one read before the outage, at most the chain's.
        #expect(staleHead.cache == "stale", "\(staleHead.json)")
        let staleNumber = try #require(staleHead.result?.quantityValue)
        #expect(staleNumber >= head.quantityValue ?? .max && staleNumber <= harness.simnet.chain.headNumber)

        try await Task.sleep(until: answeredAt + .milliseconds(4_500))
        let expired = try await Self.ask(harness, "eth_getBalance", params)
        #expect(expired.status == 503 && expired.json["error"]?["code"] == .number(-32010), "\(expired.json)")
        #expect(expired.cache == "miss")
    }

    @Test func aSQLiteCacheAnswersAfterARestartWithEveryUpstreamDown() async throws {
        let file = try TemporarySQLiteFile()
        defer { file.remove() }
        let path = file.path
        let simnet = try await SimnetHarness.start()
        defer { Task { await simnet.stop() } }
        simnet.mine(20)

        let firstStore = try SQLiteCacheStore(path: path, maxBytes: 64 << 20, logger: Logger(label: "test"))
        let first = try await GatewayHarness.start(simnet: simnet, cache: .init(store: firstStore))
        let answered = try await Self.ask(first, "eth_getBlockByNumber", #"["0x4",true]"#)
        #expect(answered.cache == "miss" && answered.result?["number"] == .string("0x4"))
        await first.stop()
        await firstStore.close()

        try await simnet.setFault(.down)
        let secondStore = try SQLiteCacheStore(path: path, maxBytes: 64 << 20, logger: Logger(label: "test"))
        let second = try await GatewayHarness.start(simnet: simnet, cache: .init(store: secondStore))
        defer { Task { await second.stop(); await secondStore.close() } }
        let again = try await Self.ask(second, "eth_getBlockByNumber", #"["0x4",true]"#)
        #expect(again.cache == "hit", "\(again.json)")
        #expect(again.json == answered.json)
        // What was never cached cannot be answered.
        let never = try await Self.ask(second, "eth_getBlockByNumber", #"["0x3",true]"#)
        #expect(never.json["error"]?["code"] == .number(-32010))
    }

    /// After a reorg is seen (a head poll), no answer of the abandoned branch is served,
    /// although those blocks were cached while they were the head.
    @Test func nothingFromAnAbandonedBranchIsServedOnceTheReorgIsSeen() async throws {
        let harness = try await GatewayHarness.start(cache: Self.memory(staleIfError: .seconds(60)), pollsHeads: false, tune: Self.pollOnDemand)
        defer { Task { await harness.stop() } }
        let chain = harness.simnet.chain
        let account = Hex.encode(chain.accounts[2].address)
        // Some activity in the blocks about to be replaced.
        for nonce in 0..<3 {
            let transfer = try SignedTransaction.signed(
                kind: .legacy, chainId: chain.chainId, nonce: UInt64(nonce), gasPrice: [0x3b, 0x9a, 0xca, 0x00], gas: 21_000,
                to: Array(repeating: 0x42, count: 20), value: [0x01], privateKey: chain.accounts[2].privateKey)
            _ = try chain.submit(raw: transfer.raw)
            harness.simnet.mine()
        }
        await Self.pollUntilCurrent(harness)
        let head = chain.headNumber
        let heights = (head - 3)...head
        var cachedBefore: [UInt64: JSONValue] = [:]
        for number in heights {
            let params = #"["\#(JSONValue.quantity(number).stringValue!)",false]"#
            _ = try await Self.ask(harness, "eth_getBlockByNumber", params)
            let hit = try await Self.ask(harness, "eth_getBlockByNumber", params)
            #expect(hit.cache == "hit")
            cachedBefore[number] = hit.result?["hash"]
        }
        let balanceBefore = try await Self.ask(harness, "eth_getBalance", #"["\#(account)","latest"]"#)
        #expect(balanceBefore.result != nil)

        let reorg = try harness.simnet.reorg(depth: 3)
        await Self.pollUntilCurrent(harness)
        for number in heights {
            let answer = try await Self.ask(harness, "eth_getBlockByNumber", #"["\#(JSONValue.quantity(number).stringValue!)",false]"#)
            let served = answer.result?["hash"]?.stringValue
            #expect(served == chain.blockHash(number)?.description, "block \(number): \(answer.cache ?? "")")
            if let abandoned = reorg.abandoned[number] {
                #expect(served != abandoned.description, "block \(number) served from the abandoned branch")
                #expect(cachedBefore[number] == .string(abandoned.description))
            }
        }
        let balance = try await Self.ask(harness, "eth_getBalance", #"["\#(account)","latest"]"#)
        let truth = try #require(chain.balance(of: chain.accounts[2].address, atBlock: chain.headNumber))
        #expect(balance.result == .string(Hex.encodeQuantity(truth)))
    }
}

/// Two gateways sharing one PostgreSQL cache (a real server, started by the test), and a
/// database that stops mid-run: the cache fails open and no client call fails.
@Suite(.serialized, .enabled(if: PostgresServer.isInstalled || ProcessInfo.processInfo.environment["BULWARK_REQUIRE_POSTGRES"] == "1",
                              "needs PostgreSQL: apt-get install postgresql"))
struct SharedPostgresCacheTests {
    @Test func twoGatewaysShareOnePostgresCacheAndSurviveItsOutage() async throws {
        let postgres = try await PostgresServer.start()
        defer { postgres.destroy() }
        var configuration = SimnetHarness.configuration()
        configuration.blockTime = .milliseconds(300)
        let simnet = Simnet(configuration: configuration)
        try await simnet.start()
        let mining = Task { try? await simnet.run() }
        defer { mining.cancel() }
        simnet.mine(30)

        let logger = Logger(label: "test")
        let url = postgres.url + "?sslmode=disable"
        let stores = try [PostgresCacheStore(url: url, logger: logger), PostgresCacheStore(url: url, logger: logger)]
        let first = try await GatewayHarness.start(simnet: simnet, cache: .init(store: stores[0]))
        let second = try await GatewayHarness.start(simnet: simnet, cache: .init(store: stores[1]))
        defer { Task { await first.stop(); await second.stop(); for store in stores { await store.close() } } }

        // What one gateway cached, the other serves without asking an upstream.
        let answered = try await CacheGatewayTests.ask(first, "eth_getBlockByNumber", #"["0x3",true]"#)
        #expect(answered.cache == "miss" && answered.result?["number"] == .string("0x3"))
        var shared: CacheGatewayTests.Answer?
        for _ in 0..<40 {
            let attempt = try await CacheGatewayTests.ask(second, "eth_getBlockByNumber", #"["0x3",true]"#)
            if attempt.cache == "hit" { shared = attempt; break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(shared?.json == answered.json, "the second gateway never hit the first one's entry")

        // Load on both gateways, with final reads that go to the database; it stops mid-run.
        let load = Task { await Self.load([first, second], calls: 1_200) }
        try await Task.sleep(for: .milliseconds(400))
        try await postgres.stop()
        let report = await load.value
        #expect(report.calls == 1_200)
        #expect(report.failures.isEmpty, "\(report.failures.prefix(5))")

        // Back: hits resume without a restart of anything.
        try await postgres.start()
        var resumed = false
        for number in 0..<120 where !resumed {
            let params = #"["\#(JSONValue.quantity(UInt64(1 + number % 15)).stringValue!)",false]"#
            _ = try await CacheGatewayTests.ask(first, "eth_getBlockByNumber", params)
            resumed = try await CacheGatewayTests.ask(second, "eth_getBlockByNumber", params).cache == "hit"
            if !resumed { try await Task.sleep(for: .milliseconds(250)) }
        }
        #expect(resumed, "the cache did not come back after the database did")
    }

    /// `calls` calls spread over the gateways: final blocks by number, balances at the head, the head.
    static func load(_ gateways: [GatewayHarness], calls: Int) async -> LoopReport {
        await withTaskGroup(of: LoopReport.self) { group in
            for worker in 0..<8 {
                group.addTask {
                    var report = LoopReport()
                    var i = worker
                    while i < calls {
                        defer { i += 8 }
                        let gateway = gateways[i % gateways.count]
                        let account = Hex.encode(gateway.simnet.chain.accounts[i % 5].address)
                        let body = switch i % 3 {
                        case 0: #"{"jsonrpc":"2.0","id":1,"method":"eth_getBlockByNumber","params":["\#(JSONValue.quantity(UInt64(1 + i % 15)).stringValue!)",true]}"#
                        case 1: #"{"jsonrpc":"2.0","id":2,"method":"eth_getBalance","params":["\#(account)","latest"]}"#
                        default: #"{"jsonrpc":"2.0","id":3,"method":"eth_getTransactionCount","params":["\#(account)","0x2"]}"#
                        }
                        report.calls += 1
                        do {
                            let response = try await HTTPTestClient.request(.POST, gateway.url, body: body, timeout: .seconds(10))
                            if response.status.code != 200 || (try? JSONValue.parse(response.body))?["result"] == nil {
                                report.failures.append("HTTP \(response.status.code): \(response.text.prefix(200))")
                            }
                        } catch {
                            report.failures.append("\(error)")
                        }
                    }
                    return report
                }
            }
            var all = LoopReport()
            for await report in group {
                all.calls += report.calls
                all.failures += report.failures
            }
            return all
        }
    }
}
