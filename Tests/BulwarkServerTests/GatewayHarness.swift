import Failsafe
import Foundation
import BulwarkServer
import Cache
import EthereumKit
import Metrics
import Prometheus
import Routing
import Simnet
import SimnetTesting
import Synchronization
import Testing

/// A simnet producing blocks, and a gateway in front of all its faces, on ephemeral ports.
/// Given a `simnet`, the harness uses it and leaves it running on `stop()`.
final class GatewayHarness: Sendable {
    let simnet: Simnet
    private let ownsSimnet: Bool
    let router: ChainRouter
    let gateway: Gateway
    let url: String
    private let tasks: Mutex<[Task<Void, Never>]>

    static func start(blockTime: Duration = .milliseconds(300), limits: GatewayLimits = .init(), adminKey: String? = nil, clients: [GatewayClient] = [],
                      metricsRegistry: PrometheusCollectorRegistry? = nil, chain: String = "eth",
                      allows: @escaping @Sendable (String) -> Bool = { _ in true },
                      simnet existing: Simnet? = nil, cache: ResponseCache.Configuration? = nil, pollsHeads: Bool = true,
                      tune: (inout RouterConfiguration) -> Void = { _ in }) async throws -> GatewayHarness {
        let simnet: Simnet
        if let existing {
            simnet = existing
        } else {
            var configuration = SimnetHarness.configuration()
            configuration.blockTime = blockTime
            simnet = Simnet(configuration: configuration)
            try await simnet.start()
            simnet.mine(20)
        }
        var routing = RouterConfiguration(chainName: chain, chainId: simnet.chain.chainId, upstreams: simnet.faces.map { face in
            UpstreamSpec(id: face.id, url: face.url, domain: FailureDomain(provider: face.provider, cloud: face.cloud, region: face.region))
        })
        routing.headPollInterval = .milliseconds(100)
        routing.attemptTimeout = .seconds(2)
        tune(&routing)
        let router = try ChainRouter(configuration: routing, cache: cache.map { ResponseCache(chainName: chain, configuration: $0) })
        let gateway = Gateway(chains: [GatewayChain(name: chain, router: router, allows: allows)], limits: limits, adminKey: adminKey, clients: clients)
        let port = Mutex<Int?>(nil)
        let server = gateway.server(host: "127.0.0.1", port: 0, metricsRegistry: metricsRegistry) { bound in port.withLock { $0 = bound } }
        var tasks: [Task<Void, Never>] = []
        if existing == nil { tasks.append(Task { try? await simnet.run() }) }
        if pollsHeads { tasks.append(Task { try? await router.run() }) }
        tasks.append(Task { try? await server.run() })
        while port.withLock({ $0 }) == nil { try await Task.sleep(for: .milliseconds(10)) }
        // A busy machine can make a poll miss its deadline: the harness starts with a known head.
        for _ in 0..<20 where router.consensusHead == nil { await router.pollHeads() }
        return GatewayHarness(simnet: simnet, ownsSimnet: existing == nil, router: router, gateway: gateway,
                              url: "http://127.0.0.1:\(port.withLock { $0! })/\(chain)", tasks: tasks)
    }

    private init(simnet: Simnet, ownsSimnet: Bool, router: ChainRouter, gateway: Gateway, url: String, tasks: [Task<Void, Never>]) {
        self.simnet = simnet
        self.ownsSimnet = ownsSimnet
        self.router = router
        self.gateway = gateway
        self.url = url
        self.tasks = Mutex(tasks)
    }

    /// `http://127.0.0.1:PORT` without the chain route.
    var root: String { String(url[..<url.lastIndex(of: "/")!]) }

    func stop() async {
        for task in tasks.withLock({ $0 }) { task.cancel() }
        if ownsSimnet { await simnet.stop() }
        await router.shutdown()
    }

    /// Sets a fault on the whole aws/us-east-1 domain (two providers' faces).
    func failUSEast(_ fault: Fault) async throws {
        try await simnet.setFault(fault, matching: ["cloud": "aws", "region": "us-east-1"])
    }
}

/// A SQLite cache file in a temporary directory of its own, removed with it.
struct TemporarySQLiteFile {
    let directory: URL
    var path: String { directory.appendingPathComponent("cache.sqlite").path }

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("bulwark-cache-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    func remove() { try? FileManager.default.removeItem(at: directory) }
}

/// What a client loop saw.
struct LoopReport: Sendable {
    var calls = 0
    var failures: [String] = []
    var latencies: [Duration] = []
    var inconsistent: [String] = []

    func quantile(_ q: Double) -> Duration {
        let sorted = latencies.sorted()
        return sorted.isEmpty ? .zero : sorted[min(sorted.count - 1, Int(Double(sorted.count) * q))]
    }
}

/// Runs `total` mixed calls (head, balances, blocks, nonces, chain id, batches) with `concurrency` clients.
func clientLoop(_ harness: GatewayHarness, total: Int, concurrency: Int = 16) async -> LoopReport {
    let accounts = harness.simnet.chain.accounts.map { JSONValue.data($0.address) }
    let chainHead = harness.simnet.chain
    return await withTaskGroup(of: LoopReport.self) { group in
        for worker in 0..<concurrency {
            group.addTask {
                var report = LoopReport()
                var i = worker
                while i < total {
                    defer { i += concurrency }
                    let account = accounts[i % accounts.count]
                    let body: String
                    switch i % 6 {
                    case 0: body = #"{"jsonrpc":"2.0","id":\#(i),"method":"eth_blockNumber"}"#
                    case 1: body = #"{"jsonrpc":"2.0","id":"b\#(i)","method":"eth_getBalance","params":[\#(account.serialized()),"latest"]}"#
                    case 2: body = #"{"jsonrpc":"2.0","id":\#(i),"method":"eth_getBlockByNumber","params":["latest",false]}"#
                    case 3: body = #"{"jsonrpc":"2.0","id":\#(i),"method":"eth_getTransactionCount","params":[\#(account.serialized()),"latest"]}"#
                    case 4: body = #"{"jsonrpc":"2.0","id":\#(i),"method":"eth_chainId"}"#
                    default: body = #"[{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"},{"jsonrpc":"2.0","id":2,"method":"eth_getBalance","params":[\#(account.serialized()),"latest"]}]"#
                    }
                    let start = ContinuousClock.now
                    report.calls += 1
                    do {
                        let response = try await HTTPTestClient.request(.POST, harness.url, body: body, timeout: .seconds(15))
                        report.latencies.append(ContinuousClock.now - start)
                        let json = try JSONValue.parse(response.body)
                        let answers = json.arrayValue ?? [json]
                        guard response.status.code == 200, answers.allSatisfy({ $0["result"] != nil }) else {
                            report.failures.append("HTTP \(response.status): \(response.text.prefix(300))")
                            continue
                        }
                        // Consistency: heads never ahead of the chain, chain id always ours.
                        let head = chainHead.headNumber
                        for answer in answers {
                            if i % 6 == 4, answer["result"] != .string("0x539") { report.inconsistent.append("chainId \(answer)") }
                            if i % 6 == 0, let text = answer["result"]?.stringValue, let n = UInt64(text.dropFirst(2), radix: 16), n > head {
                                report.inconsistent.append("head \(n) > \(head)")
                            }
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
            all.latencies += report.latencies
            all.inconsistent += report.inconsistent
        }
        return all
    }
}

/// The process-wide metrics backend for tests: bootstrapped once, before any router that should report to it.
enum TestMetrics {
    static let registry: PrometheusCollectorRegistry = {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return registry
    }()
}
