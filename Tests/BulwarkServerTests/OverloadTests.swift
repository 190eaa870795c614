import BulwarkServer
import EthereumKit
import Foundation
import Routing
import Simnet
import SimnetTesting
import Synchronization
import Testing

/// Priorities under overload on simnet (issue 9's must-show): two of three failure domains down,
/// the remaining face's `maxRps` saturated, a critical and a bulk key both pushing load.
@Suite struct OverloadTests {
    struct Tally: Sendable {
        var ok = 0
        var shed = 0
        var noUpstream = 0
        var other: [String] = []
        var timedOut = 0
        var slowest: Duration = .zero
    }

    @Test func criticalCallsAreAnsweredWhileBulkIsShed() async throws {
        let critical = "key-critical-3b7e", bulk = "key-bulk-9d2c"
        let harness = try await GatewayHarness.start(clients: [
            GatewayClient(key: critical, name: "withdrawals-overload", priority: .critical),
            GatewayClient(key: bulk, name: "backfill-overload", priority: .bulk),
        ], tune: { routing in
            // Three failure domains, 40 calls/s each.
            routing.upstreams = routing.upstreams.filter { ["alchemy-use1", "quicknode-euw1", "own-node"].contains($0.id) }
            for index in routing.upstreams.indices { routing.upstreams[index].maxRps = 40 }
        })
        defer { Task { await harness.stop() } }
        // 40 calls/s each, less the harness's head polls (10 a second per upstream).
        #expect(harness.router.capacity == 90)
        try await harness.simnet.setFault(.down, matching: ["id": "alchemy-use1"])
        try await harness.simnet.setFault(.down, matching: ["id": "quicknode-euw1"])
        let waitedFrom = ContinuousClock.now
        while (harness.router.capacity ?? 0) > 31 && ContinuousClock.now - waitedFrom < .seconds(10) {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect((harness.router.capacity ?? 0) <= 31, "the router sees two domains down: capacity \(String(describing: harness.router.capacity))")

        // 5 s of load: the critical key at 20 calls/s, the bulk key at 200 calls/s, every call distinct.
        let seconds = 5
        async let criticalTally = Self.push(harness, key: critical, perSecond: 20, seconds: seconds, offset: 0)
        async let bulkTally = Self.push(harness, key: bulk, perSecond: 200, seconds: seconds, offset: 100_000)
        let (c, b) = try await (criticalTally, bulkTally)
        let criticalCalls = 20 * seconds, bulkCalls = 200 * seconds
        print("overload: critical \(c), bulk \(b)")
        #expect(Double(c.ok) >= 0.999 * Double(criticalCalls), "critical: \(c)")
        #expect(c.shed == 0 && c.noUpstream == 0 && c.timedOut == 0 && c.other.isEmpty, "critical: \(c)")
        #expect(b.shed > bulkCalls / 2, "the bulk key's excess is shed with 429: \(b)")
        #expect(b.ok > 0, "bulk still gets what critical leaves: \(b)")
        #expect(b.timedOut == 0 && b.noUpstream == 0, "nothing times out: critical \(c.slowest), bulk \(b.slowest) at the slowest")
    }

    /// Sends `perSecond` distinct `eth_getBalance` calls a second for `seconds` with `key`, each
    /// on its own connection without waiting for the others, and tallies the answers.
    static func push(_ harness: GatewayHarness, key: String, perSecond: Int, seconds: Int, offset: Int) async throws -> Tally {
        let start = ContinuousClock.now
        return await withTaskGroup(of: (Result<HTTPTestClient.Response, HTTPTestClient.Failure>, Duration).self) { group in
            for n in 0..<(perSecond * seconds) {
                let due = start + .seconds(Double(n) / Double(perSecond))
                if due > .now { try? await Task.sleep(until: due) }
                group.addTask {
                    let body = #"{"jsonrpc":"2.0","id":\#(n),"method":"eth_getBalance","params":["0x\#(String(format: "%040x", offset + n))","0x1"]}"#
                    let sent = ContinuousClock.now
                    do throws(HTTPTestClient.Failure) {
                        let response = try await HTTPTestClient.request(.POST, harness.url, body: body, headers: [("X-Api-Key", key)], timeout: .seconds(5))
                        return (.success(response), .now - sent)
                    } catch {
                        return (.failure(error), .now - sent)
                    }
                }
            }
            var tally = Tally()
            for await (result, took) in group {
                tally.slowest = max(tally.slowest, took)
                switch result {
                case .failure(.timedOut): tally.timedOut += 1
                case .failure(let failure): tally.other.append("\(failure)")
                case .success(let response):
                    let code = (try? JSONValue.parse(response.body))?["error"]?["code"]
                    if response.status.code == 200, code == nil {
                        tally.ok += 1
                    } else if response.status.code == 429, code == .number(-32005), response.headers["Retry-After"].first != nil {
                        tally.shed += 1
                    } else if code == .number(-32010) {
                        tally.noUpstream += 1
                    } else {
                        tally.other.append("HTTP \(response.status.code): \(response.text.prefix(200))")
                    }
                }
            }
            return tally
        }
    }
}
