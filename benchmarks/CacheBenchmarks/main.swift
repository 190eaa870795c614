// What a cache hit costs inside the gateway, per store:
//   swift run -c release cache-bench [--calls N]
// A simnet (in-process, on loopback) behind a router and the gateway's edge (`Gateway.handle`,
// the whole JSON-RPC path without sockets): the cache is filled with final answers (blocks,
// balances and receipts at final heights), then every call is a hit. Prints a Markdown table of
// the per-call latency (p50/p99) and the single-caller throughput of hits, beside a miss for scale.
import BulwarkServer
import Cache
import EthereumKit
import Failsafe
import Foundation
import Logging
import Routing
import Simnet

let calls = CommandLine.arguments.firstIndex(of: "--calls").flatMap { Int(CommandLine.arguments[$0 + 1]) } ?? 50_000
var quiet = Logger(label: "cache-bench")
quiet.logLevel = .critical

var simnetConfiguration = SimnetConfiguration()
simnetConfiguration.blockTime = nil
let simnet = Simnet(configuration: simnetConfiguration, logger: quiet)
try await simnet.start()
simnet.mine(200)

/// Distinct final calls: blocks with hashes, balances at final heights.
let accounts = simnet.chain.accounts.map { Hex.encode($0.address) }
let bodies: [[UInt8]] = (1...150).flatMap { number -> [[UInt8]] in
    let block = JSONValue.quantity(UInt64(number)).stringValue!
    return [
        Array(#"{"jsonrpc":"2.0","id":1,"method":"eth_getBlockByNumber","params":["\#(block)",false]}"#.utf8),
        Array(#"{"jsonrpc":"2.0","id":2,"method":"eth_getBalance","params":["\#(accounts[number % accounts.count])","\#(block)"]}"#.utf8),
    ]
}

struct Measurement {
    var store: String
    var p50: Duration
    var p99: Duration
    var perSecond: Double
}

@MainActor func measure(store: any CacheStore, label: String) async throws -> Measurement {
    var routing = RouterConfiguration(chainName: "eth", chainId: simnet.chain.chainId, upstreams: simnet.faces.map { face in
        UpstreamSpec(id: face.id, url: face.url, domain: FailureDomain(provider: face.provider, cloud: face.cloud, region: face.region))
    })
    routing.finalityDepth = simnetConfiguration.finalityDepth
    let router = try ChainRouter(configuration: routing, cache: ResponseCache(chainName: "eth", configuration: .init(store: store), logger: quiet), logger: quiet)
    await router.pollHeads()
    let gateway = Gateway(chains: [GatewayChain(name: "eth", router: router)], logger: quiet)
    for body in bodies {
        let response = await gateway.handle(route: "eth", body: body)
        precondition(response.status == 200, "warming: \(response.body)")
    }
    // Let write-behind stores settle, then check that every call now hits.
    try await Task.sleep(for: .milliseconds(500))
    for body in bodies {
        let response = await gateway.handle(route: "eth", body: body)
        precondition(response.headers.contains { $0 == ("X-Bulwark-Cache", "hit") }, "not a hit: \(String(decoding: body, as: UTF8.self))")
    }
    var latencies: [Duration] = []
    latencies.reserveCapacity(calls)
    let clock = ContinuousClock()
    let total = await clock.measure {
        for i in 0..<calls {
            let start = clock.now
            _ = await gateway.handle(route: "eth", body: bodies[i % bodies.count])
            latencies.append(clock.now - start)
        }
    }
    await router.shutdown()
    latencies.sort()
    let seconds = Double(total.components.seconds) + Double(total.components.attoseconds) / 1e18
    return Measurement(store: label, p50: latencies[calls / 2], p99: latencies[calls * 99 / 100], perSecond: Double(calls) / seconds)
}

func microseconds(_ duration: Duration) -> String {
    String(format: "%.1f µs", Double(duration.components.seconds) * 1e6 + Double(duration.components.attoseconds) / 1e12)
}

let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bulwark-cache-bench-\(UUID().uuidString)")
try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(at: directory) }

var results: [Measurement] = []
results.append(try await measure(store: MemoryCacheStore(maxBytes: 64 << 20), label: "memory"))
let sqlite = try SQLiteCacheStore(path: directory.appendingPathComponent("cache.sqlite").path, maxBytes: 64 << 20, logger: quiet)
results.append(try await measure(store: sqlite, label: "sqlite"))
await sqlite.close()

// A miss for scale: the same edge, no cache, every call forwarded to a simnet face over loopback.
var routing = RouterConfiguration(chainName: "eth", chainId: simnet.chain.chainId, upstreams: simnet.faces.map { face in
    UpstreamSpec(id: face.id, url: face.url, domain: FailureDomain(provider: face.provider, cloud: face.cloud, region: face.region))
})
let forwarding = try ChainRouter(configuration: routing, logger: quiet)
await forwarding.pollHeads()
let uncached = Gateway(chains: [GatewayChain(name: "eth", router: forwarding)], logger: quiet)
var missLatencies: [Duration] = []
for i in 0..<min(calls, 5_000) {
    let start = ContinuousClock.now
    _ = await uncached.handle(route: "eth", body: bodies[i % bodies.count])
    missLatencies.append(ContinuousClock.now - start)
}
missLatencies.sort()
await forwarding.shutdown()
await simnet.stop()

print("| path | p50 per call | p99 per call | calls/s (one caller) |")
print("|---|---|---|---|")
for result in results {
    print("| \(result.store) hit | \(microseconds(result.p50)) | \(microseconds(result.p99)) | \(Int(result.perSecond)) |")
}
print("| no cache: forwarded to a simnet face | \(microseconds(missLatencies[missLatencies.count / 2])) | \(microseconds(missLatencies[missLatencies.count * 99 / 100])) | — |")
print("\n\(calls) hits per store over \(bodies.count) distinct final calls (blocks by number, balances at final heights).")
