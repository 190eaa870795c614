import EthereumKit
import Foundation
import Simnet
import SimnetTesting
import Testing

/// `bulwark cache stats|purge` on the SQLite file a real `bulwark serve` filled.
@Suite struct CacheCommandTests {
    @Test func statsShowWhatAGatewayCachedAndPurgeRemovesIt() async throws {
        let simnet = try await SimnetHarness.start()
        defer { Task { await simnet.stop() } }
        simnet.mine(30)
        let cachePath = FileManager.default.temporaryDirectory.appendingPathComponent("cache-cli-\(UUID().uuidString).sqlite").path
        let gateway = try await ServedGateway.start(upstreams: ServedGateway.upstreams(simnet), cache: "store: sqlite\npath: \(cachePath)",
                                                    chain: "finalityDepth: 8")
        defer { gateway.remove(); try? FileManager.default.removeItem(atPath: cachePath) }
        let (address, config, serve) = (gateway.address, gateway.config, gateway.process)
        // Answers are kept once the gateway knows the head and the finality boundary: wait for its first poll.
        let polled = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < polled {
            if let status = try? await HTTPTestClient.request(.GET, address + "/status"), let json = try? JSONValue.parse(status.body),
               json["chains"]?.arrayValue?.first?["consensusHead"] == .string("0x1e") { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        // Three final blocks, each asked twice (a miss, then a hit), and one balance at a final height.
        for number in 1...3 {
            for _ in 0..<2 {
                let response = try await HTTPTestClient.request(.POST, address + "/eth", body: #"{"jsonrpc":"2.0","id":1,"method":"eth_getBlockByNumber","params":["0x\#(number)",false]}"#)
                #expect(try JSONValue.parse(response.body)["result"]?["number"] == .string("0x\(number)"))
            }
        }
        let balance = #"{"jsonrpc":"2.0","id":2,"method":"eth_getBalance","params":["\#(Hex.encode(simnet.chain.accounts[0].address))","0x2"]}"#
        _ = try await HTTPTestClient.request(.POST, address + "/eth", body: balance)
        gateway.stop()  // a graceful stop writes the lookup counters
        #expect(serve.terminationStatus == 0)

        let stats = try BulwarkProcess.run(["cache", "stats", "--config", config.path, "--json"])
        #expect(stats.status == 0, "\(stats.stderr)")
        let json = try JSONValue.parse(Array(stats.stdout.utf8))
        #expect(json["store"] == .string("sqlite"))
        #expect(json["entries"] == .number(4), "\(stats.stdout)")
        let blocks = try #require(json["methods"]?.arrayValue?.first { $0["method"] == .string("eth_getBlockByNumber") })
        #expect(blocks["entries"] == .number(3) && blocks["hits"] == .number(3) && blocks["misses"] == .number(3), "\(blocks)")
        #expect(blocks["hitRatio"] == .number(0.5))
        let table = try BulwarkProcess.run(["cache", "stats", "--config", config.path])
        #expect(table.stdout.hasPrefix("sqlite cache: 4 entries"), "\(table.stdout)")
        #expect(table.stdout.contains("eth_getBlockByNumber") && table.stdout.contains("50.0%"))

        let purge = try BulwarkProcess.run(["cache", "purge", "--config", config.path, "--method", "eth_getBlockByNumber"])
        #expect(purge.status == 0 && purge.stdout.contains("removed 3 entries"), "\(purge.stdout) \(purge.stderr)")
        let after = try JSONValue.parse(Array(try BulwarkProcess.run(["cache", "stats", "--config", config.path, "--json"]).stdout.utf8))
        #expect(after["entries"] == .number(1))
    }

    @Test func storesThatLiveInsideAGatewayOrNowhereAreNamed() throws {
        let config = FileManager.default.temporaryDirectory.appendingPathComponent("cache-memory-\(UUID().uuidString).yaml")
        defer { try? FileManager.default.removeItem(at: config) }
        for (store, says) in [("memory", "GET /status"), ("none", "no cache")] {
            try """
                cache:
                  store: \(store)
                chains:
                  - name: eth
                    chainId: 1
                    upstreams:
                      - id: a
                        url: http://127.0.0.1:9
                        labels: { provider: p, cloud: c, region: r }
                """.write(to: config, atomically: true, encoding: .utf8)
            let outcome = try BulwarkProcess.run(["cache", "stats", "--config", config.path])
            #expect(outcome.status == 2 && outcome.stderr.contains(says), "\(store): \(outcome.stderr)")
        }
    }
}
