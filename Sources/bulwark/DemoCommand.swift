import Failsafe
import ArgumentParser
import BulwarkServer
import Cache
import EthereumKit
import Logging
import NIOCore
import Routing
import Simnet
import Synchronization
import Upstreams

struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Show Bulwark keeping every call answered while a whole cloud region fails.",
        discussion: """
            Starts the simulated provider network (five faces in four failure domains) and a gateway in front
            of it, drives a steady mixed client load, takes aws/us-east-1 down at one third of the run, makes a
            second provider lag at half, and brings the region back at two thirds. Prints a line per second and a
            summary. Exit status 0 only if no client request failed.
            """
    )

    @Option(help: "Length of the run in seconds.")
    var duration: Int = 30

    @Option(help: "Port of the gateway on 127.0.0.1 (0: ephemeral).")
    var port: Int = 8545

    func run() async throws {
        guard duration >= 6 else { throw CommandFailure.usage("--duration: at least 6 seconds") }
        guard (0...65_535).contains(port) else { throw CommandFailure.usage("--port: \(port) is not a TCP port") }
        var quiet = Logger(label: "bulwark.demo")
        quiet.logLevel = .critical

        var simnetConfiguration = SimnetConfiguration()
        simnetConfiguration.blockTime = .milliseconds(500)
        let simnet = Simnet(configuration: simnetConfiguration, logger: quiet)
        try await simnet.start()
        simnet.mine(12)
        var routing = RouterConfiguration(chainName: "eth", chainId: simnet.chain.chainId, upstreams: simnet.faces.map { face in
            UpstreamSpec(id: face.id, url: face.url, domain: FailureDomain(provider: face.provider, cloud: face.cloud, region: face.region))
        })
        routing.headPollInterval = .milliseconds(250)
        routing.crossCheckedMethods = RouterConfiguration.accountReads
        routing.finalityDepth = simnetConfiguration.finalityDepth
        let cache = ResponseCache(chainName: "eth", configuration: .init(store: MemoryCacheStore(maxBytes: 64 << 20), staleIfError: .seconds(300)), logger: quiet)
        let router = try ChainRouter(configuration: routing, cache: cache, logger: quiet)
        let gateway = Gateway(chains: [GatewayChain(name: "eth", router: router)], logger: quiet)
        let bound = Mutex<Int?>(nil)
        let server = gateway.server(host: "127.0.0.1", port: port) { port in bound.withLock { $0 = port } }
        let simnetTask = Task { try? await simnet.run() }
        let routerTask = Task { try? await router.run() }
        let serverTask = Task { try await server.run() }
        defer {
            simnetTask.cancel()
            routerTask.cancel()
            serverTask.cancel()
        }
        let started = ContinuousClock.now
        while bound.withLock({ $0 }) == nil {
            if ContinuousClock.now - started > .seconds(5) { throw CommandFailure.badInput("the gateway could not listen on 127.0.0.1:\(port) (in use?); --port 0 takes any free port") }
            try await Task.sleep(for: .milliseconds(10))
        }
        await router.pollHeads()
        let url = "http://127.0.0.1:\(bound.withLock { $0! })/eth"

        print("Bulwark demo: a gateway at \(url) in front of \(simnet.faces.count) simulated providers:")
        for face in simnet.faces { print("  \(face.id.padding(16)) \(face.provider)/\(face.cloud)/\(face.region)") }
        print("Client load for \(duration) s; aws/us-east-1 fails at \(duration / 3) s, ankr-eastus lags 10 blocks from \(duration / 2) s, aws/us-east-1 returns at \(duration * 2 / 3) s.\n")

        let load = try DemoLoad(gatewayURL: url, simnet: simnet)
        let loadTask = Task { await load.run(until: started + .seconds(duration)) }
        var second = 0
        var events: [(at: Int, action: @Sendable () async throws -> String)] = [
            (duration / 3, { _ = try await simnet.setFault(.down, matching: ["cloud": "aws", "region": "us-east-1"]); return "aws/us-east-1 is down: alchemy-use1 and infura-use1 refuse connections" }),
            (duration / 2, { _ = try await simnet.setFault(.lag(blocks: 10), matching: ["id": "ankr-eastus"]); return "ankr-eastus starts serving a head 10 blocks old" }),
            (duration * 2 / 3, { _ = try await simnet.setFault(.none, matching: ["cloud": "aws", "region": "us-east-1"]); return "aws/us-east-1 is back" }),
        ]
        while second < duration {
            second += 1
            try? await Task.sleep(until: started + .seconds(second), clock: .continuous)
            while let event = events.first, event.at < second {
                events.removeFirst()
                let text = try await event.action()
                print("  \(String(event.at).leftPadding(3))s ▶ \(text)")
            }
            print(load.takeSecond(at: second))
        }
        await loadTask.value
        let summary = load.summary(duration: duration, outageStart: duration / 3, outageEnd: duration * 2 / 3)
        print("\n" + summary.text)
        await simnet.stop()
        await router.shutdown()
        if summary.failed > 0 { throw CommandFailure.checkFailed("\(summary.failed) client request(s) failed") }
    }
}

/// The demo's client: a steady mix of calls through the gateway, with statistics per second.
final class DemoLoad: Sendable {
    struct Window: Sendable {
        var requests = 0
        var failed = 0
        var latencies: [Duration] = []
        var byUpstream: [String: Int] = [:]
        /// Answers by `X-Bulwark-Cache`: hit, miss, stale.
        var byCache: [String: Int] = [:]
    }

    struct Totals: Sendable {
        var all = Window()
        var outage = Window()
        var failures: [String] = []
        var transactionsSent = 0
        var transactionsIncluded = 0
        var proofsVerified = 0
    }

    let client: UpstreamTransport
    let simnet: Simnet
    private let window = Mutex(Window())
    private let totals = Mutex(Totals())
    private let started = ContinuousClock.now
    private let outage = Mutex<(Int, Int)>((Int.max, Int.max))

    init(gatewayURL: String, simnet: Simnet) throws {
        client = try UpstreamTransport(url: gatewayURL)
        self.simnet = simnet
    }

    func run(until end: ContinuousClock.Instant) async {
        await withTaskGroup(of: Void.self) { group in
            for worker in 0..<8 {
                group.addTask { await self.worker(worker, until: end) }
            }
            group.addTask { await self.transactions(until: end) }
        }
    }

    private func worker(_ worker: Int, until end: ContinuousClock.Instant) async {
        let accounts = simnet.chain.accounts
        var i = worker
        while ContinuousClock.now < end {
            let account = Hex.encode(accounts[i % accounts.count].address)
            switch i % 5 {
            case 0: _ = await call(#"{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"}"#)
            case 1: _ = await call(#"{"jsonrpc":"2.0","id":2,"method":"eth_getBalance","params":["\#(account)","latest"]}"#)
            case 2: _ = await call(#"{"jsonrpc":"2.0","id":3,"method":"eth_getBlockByNumber","params":["latest",true]}"#)
            case 3:
                // Proofs are checked against the block's state root, as a wallet that trusts no one would.
                if let block = await call(#"{"jsonrpc":"2.0","id":4,"method":"eth_getBlockByNumber","params":["finalized",false]}"#),
                   let number = block["number"]?.stringValue, let header = try? BlockHeader(json: block),
                   let proof = await call(#"{"jsonrpc":"2.0","id":5,"method":"eth_getProof","params":["\#(account)",[],"\#(number)"]}"#) {
                    do {
                        try AccountProof(json: proof).verify(stateRoot: header.stateRoot)
                        totals.withLock { $0.proofsVerified += 1 }
                    } catch {
                        fail("eth_getProof did not verify: \(error)")
                    }
                }
            default: _ = await call(#"{"jsonrpc":"2.0","id":6,"method":"eth_getBlockReceipts","params":["finalized"]}"#)
            }
            i += 8
            try? await Task.sleep(for: .milliseconds(15))
        }
    }

    /// Sends a transfer every half second and checks, later, that each one is in a receipt.
    private func transactions(until end: ContinuousClock.Instant) async {
        let sender = simnet.chain.accounts[0]
        let receiver = simnet.chain.accounts[1].address
        guard let count = await call(#"{"jsonrpc":"2.0","id":7,"method":"eth_getTransactionCount","params":["\#(Hex.encode(sender.address))","latest"]}"#),
              let text = count.stringValue, var nonce = UInt64(text.dropFirst(2), radix: 16) else { return }
        var pending: [String] = []
        while ContinuousClock.now < end - .seconds(3) {
            if let tx = try? SignedTransaction.signed(
                kind: .dynamicFee, chainId: simnet.chain.chainId, nonce: nonce, maxPriorityFeePerGas: [0x3B, 0x9A, 0xCA, 0x00],
                maxFeePerGas: [0x77, 0x35, 0x94, 0x00], gas: 21_000, to: receiver, value: [0x01], privateKey: sender.privateKey
            ), let hash = await call(#"{"jsonrpc":"2.0","id":8,"method":"eth_sendRawTransaction","params":["\#(Hex.encode(tx.raw))"]}"#)?.stringValue {
                pending.append(hash)
                nonce += 1
                totals.withLock { $0.transactionsSent += 1 }
            }
            try? await Task.sleep(for: .milliseconds(500))
        }
        try? await Task.sleep(for: .seconds(2))
        for hash in pending {
            if let receipt = await call(#"{"jsonrpc":"2.0","id":9,"method":"eth_getTransactionReceipt","params":["\#(hash)"]}"#),
               receipt["status"] == .string("0x1") {
                totals.withLock { $0.transactionsIncluded += 1 }
            } else {
                fail("transaction \(hash) is not in a receipt")
            }
        }
    }

    /// One call through the gateway; nil (and a failure) unless it answered with a result.
    private func call(_ body: String) async -> JSONValue? {
        let start = ContinuousClock.now
        do {
            let response = try await client.post(ByteBuffer(string: body), timeout: .seconds(15))
            let latency = ContinuousClock.now - start
            let upstream = response.headers["X-Bulwark-Upstream"] ?? "cache"
            let cache = response.headers["X-Bulwark-Cache"] ?? "miss"
            guard response.status == 200, let json = try? JSONValue.parse(Array(response.body.readableBytesView)), let result = json["result"] else {
                fail("HTTP \(response.status): \(String(decoding: response.body.readableBytesView.prefix(200), as: UTF8.self))")
                return nil
            }
            record(latency: latency, upstream: upstream, cache: cache)
            return result
        } catch {
            fail("\(error)")
            return nil
        }
    }

    private func record(latency: Duration, upstream: String, cache: String) {
        window.withLock {
            $0.requests += 1
            $0.latencies.append(latency)
            $0.byUpstream[upstream, default: 0] += 1
            $0.byCache[cache, default: 0] += 1
        }
    }

    private func fail(_ reason: String) {
        window.withLock {
            $0.requests += 1
            $0.failed += 1
        }
        totals.withLock { if $0.failures.count < 10 { $0.failures.append(reason) } }
    }

    /// The line for the second that just ended; folds it into the totals.
    func takeSecond(at second: Int) -> String {
        let current = window.withLock { window -> Window in
            defer { window = Window() }
            return window
        }
        totals.withLock { totals in
            merge(current, into: &totals.all)
        }
        let upstreams = current.byUpstream.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: "  ")
        return "  \(String(second).leftPadding(3))s │ \(String(current.requests).leftPadding(4)) req │ \(String(current.failed).leftPadding(2)) failed │ p50 \(Self.ms(Self.quantile(current.latencies, 0.5))) p99 \(Self.ms(Self.quantile(current.latencies, 0.99))) │ \(upstreams)"
    }

    private func merge(_ window: Window, into total: inout Window) {
        total.requests += window.requests
        total.failed += window.failed
        total.latencies += window.latencies
        for (id, count) in window.byUpstream { total.byUpstream[id, default: 0] += count }
        for (status, count) in window.byCache { total.byCache[status, default: 0] += count }
    }

    func summary(duration: Int, outageStart: Int, outageEnd: Int) -> (text: String, failed: Int) {
        let totals = self.totals.withLock { $0 }
        let all = totals.all
        var lines = ["Summary (\(duration) s): \(all.requests) requests, \(all.failed) failed; latency p50 \(Self.ms(Self.quantile(all.latencies, 0.5))), p99 \(Self.ms(Self.quantile(all.latencies, 0.99))), p99.9 \(Self.ms(Self.quantile(all.latencies, 0.999)))"]
        lines.append("  transactions: \(totals.transactionsSent) sent, \(totals.transactionsIncluded) found in receipts; \(totals.proofsVerified) account proofs verified against block state roots")
        let answered = all.byUpstream.values.reduce(0, +)
        let cached = all.byCache.values.reduce(0, +)
        lines.append("  cache: \(Int((Double(all.byCache["hit", default: 0]) / Double(max(cached, 1)) * 100).rounded()))% of answers were hits "
            + "(\(all.byCache["hit", default: 0]) hit, \(all.byCache["miss", default: 0]) miss, \(all.byCache["stale", default: 0]) stale)")
        lines.append("  answered by: " + all.byUpstream.sorted { $0.value > $1.value }.map { "\($0.key) \(Int((Double($0.value) / Double(max(answered, 1)) * 100).rounded()))%" }.joined(separator: ", "))
        for failure in totals.failures { lines.append("  failed: \(failure)") }
        lines.append(all.failed == 0 ? "PASS: no client request failed while aws/us-east-1 was down and a provider lagged." : "FAIL: \(all.failed) client request(s) failed.")
        return (lines.joined(separator: "\n"), all.failed)
    }

    static func quantile(_ values: [Duration], _ q: Double) -> Duration {
        let sorted = values.sorted()
        return sorted.isEmpty ? .zero : sorted[min(sorted.count - 1, Int(Double(sorted.count) * q))]
    }

    static func ms(_ duration: Duration) -> String {
        let value = Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
        let tenths = Int((value * 10).rounded())
        return "\(tenths / 10).\(tenths % 10) ms"
    }
}

private extension String {
    func padding(_ width: Int) -> String { count >= width ? self : self + String(repeating: " ", count: width - count) }
    func leftPadding(_ width: Int) -> String { count >= width ? self : String(repeating: " ", count: width - count) + self }
}
