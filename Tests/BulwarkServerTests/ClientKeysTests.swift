import BulwarkServer
import EthereumKit
import Failsafe
import Foundation
import Prometheus
import Routing
import Simnet
import SimnetTesting
import Synchronization
import Testing

/// API keys, per-key rate limits and method lists, and priorities under overload (SPEC sections
/// 2 and 3): what a client holding a key — or not — sees.
@Suite struct ClientKeysTests {
    static let withdrawals = "wd-7f3a9c1e5b2d4f60"
    static let dashboard = "db-0c9e4a7b1f2d3e58"
    static let chainId = #"{"jsonrpc":"2.0","id":1,"method":"eth_chainId"}"#

    static func balance(_ n: Int) -> String {
        #"{"jsonrpc":"2.0","id":\#(n),"method":"eth_getBalance","params":["0x\#(String(format: "%040x", n))","0x1"]}"#
    }

    @Test func keysAreRequiredInAHeaderOrAsTheLastPathSegment() async throws {
        let harness = try await GatewayHarness.start(adminKey: "admin-5e1d", clients: [
            GatewayClient(key: Self.withdrawals, name: "withdrawals", priority: .critical),
            GatewayClient(key: Self.dashboard, name: "dashboard", priority: .bulk),
        ])
        defer { Task { await harness.stop() } }
        let missing = try await HTTPTestClient.request(.POST, harness.url, body: Self.chainId)
        #expect(missing.status.code == 401 && missing.text.contains("API key"))
        for wrong in [String(Self.withdrawals.dropLast()) + "1", Self.withdrawals + "0", String(Self.withdrawals.dropLast()), ""] {
            let refused = try await HTTPTestClient.request(.POST, harness.url, body: Self.chainId, headers: [("X-Api-Key", wrong)])
            #expect(refused.status.code == 401, "key '\(wrong)'")
            #expect(!refused.text.contains(Self.withdrawals.prefix(8)), "the answer must not echo keys")
        }
        #expect(try await HTTPTestClient.request(.POST, harness.url, body: Self.chainId, headers: [("X-Api-Key", Self.withdrawals)]).status.code == 200)
        #expect(try await HTTPTestClient.request(.POST, harness.url + "/" + Self.dashboard, body: Self.chainId).status.code == 200)
        // A client key does not open the admin endpoints; the admin key does.
        let drill = #"{"fail": {"id": "own-node"}, "for": "1s"}"#
        #expect(try await HTTPTestClient.request(.POST, harness.root + "/admin/drill", body: drill, headers: [("X-Api-Key", Self.withdrawals)]).status.code == 401)
        #expect(try await HTTPTestClient.request(.POST, harness.root + "/admin/drill", body: drill, headers: [("X-Api-Key", "admin-5e1d")]).status.code == 200)
    }

    @Test func withClientKeysButNoAdminKeyTheAdminEndpointsAreClosed() {
        let gateway = Gateway(chains: [], clients: [GatewayClient(key: "k1", name: "one")])
        #expect(!gateway.isAdmin(apiKey: nil) && !gateway.isAdmin(apiKey: "k1") && !gateway.isAdmin(apiKey: ""))
        #expect(Gateway(chains: []).isAdmin(apiKey: nil), "an open gateway has open admin endpoints")
        #expect(Gateway(chains: [], adminKey: "a").isAdmin(apiKey: "a") && !Gateway(chains: [], adminKey: "a").isAdmin(apiKey: "b"))
    }

    /// Keys are compared in constant time: every byte of every key is looked at, so a near miss
    /// (right prefix, wrong last byte, one byte longer) is refused like any other.
    @Test func keysAreComparedWholeAndEveryKeyIsChecked() {
        let clients = [GatewayClient(key: "abcdef", name: "one"), GatewayClient(key: "abcdeg", name: "two"), GatewayClient(key: "zz", name: "three")]
        let gateway = Gateway(chains: [], clients: clients)
        #expect(gateway.client(apiKey: "abcdef")?.name == "one")
        #expect(gateway.client(apiKey: "abcdeg")?.name == "two")
        #expect(gateway.client(apiKey: "zz")?.name == "three")
        for nearMiss in ["abcde", "abcdefg", "abcdeh", "Abcdef", "zz ", "", "z"] { #expect(gateway.client(apiKey: nearMiss) == nil, "\(nearMiss)") }
        #expect(gateway.client(apiKey: nil) == nil)
        #expect(Gateway(chains: []).client(apiKey: nil)?.name == "anonymous", "no keys configured: the gateway is open")
    }

    @Test func aKeyOverItsRateGets429WithRetryAfterAndOnlyItsMethods() async throws {
        // Bootstrapped before the clients are made, so that their counters report to it.
        let registry = TestMetrics.registry
        // One call every 10 s after a burst of 5: a slow machine cannot refill the bucket during the test.
        let batches = "db-batches-51ce"
        let harness = try await GatewayHarness.start(clients: [
            GatewayClient(key: Self.dashboard, name: "dashboard-limited", priority: .bulk, rps: 0.1, burst: 5,
                          allows: { $0 == "eth_chainId" || $0 == "eth_getBalance" }),
            GatewayClient(key: batches, name: "batches-limited", rps: 0.1, burst: 5),
            GatewayClient(key: "db-methods-77aa", name: "methods-limited", allows: { $0 == "eth_chainId" || $0 == "eth_getBalance" }),
            GatewayClient(key: Self.withdrawals, name: "withdrawals", priority: .critical),
        ], metricsRegistry: registry)
        defer { Task { await harness.stop() } }
        var statuses: [UInt] = []
        var limited: HTTPTestClient.Response?
        for n in 1...6 {
            let response = try await HTTPTestClient.request(.POST, harness.url, body: Self.balance(n), headers: [("X-Api-Key", Self.dashboard)])
            statuses.append(response.status.code)
            if response.status.code == 429 { limited = response }
        }
        #expect(statuses == [200, 200, 200, 200, 200, 429])
        let refusal = try #require(limited)
        // The next token is 10 s away, less what the six calls took.
        #expect(refusal.headers["Retry-After"].first.flatMap(Int.init).map { (1...10).contains($0) } == true, "\(refusal.headers)")
        let error = try JSONValue.parse(refusal.body)["error"]
        #expect(error?["code"] == .number(-32005))
        #expect(error?["data"]?["reason"]?.stringValue?.contains("'dashboard-limited' may make 0.1 calls per second (bursts of 5)") == true, "\(refusal.text)")
        // Another key is not affected, and a batch counts as its calls.
        #expect(try await HTTPTestClient.request(.POST, harness.url, body: Self.balance(7), headers: [("X-Api-Key", Self.withdrawals)]).status.code == 200)
        let four = "[" + (10...13).map { Self.balance($0) }.joined(separator: ",") + "]"
        let two = "[" + (14...15).map { Self.balance($0) }.joined(separator: ",") + "]"
        #expect(try await HTTPTestClient.request(.POST, harness.url, body: four, headers: [("X-Api-Key", batches)]).status.code == 200)
        #expect(try await HTTPTestClient.request(.POST, harness.url, body: two, headers: [("X-Api-Key", batches)]).status.code == 429)
        // Methods outside the key's list are refused as not allowed, for this key only.
        let code = #"{"jsonrpc":"2.0","id":3,"method":"eth_getCode","params":["0x0000000000000000000000000000000000000042","0x1"]}"#
        let denied = try JSONValue.parse(try await HTTPTestClient.request(.POST, harness.url, body: code, headers: [("X-Api-Key", "db-methods-77aa")]).body)
        #expect(denied["error"]?["code"] == JSONValue.number(-32601))
        #expect(denied["error"]?["data"]?.stringValue?.contains("not allowed for the key 'methods-limited'") == true)
        let allowed = try JSONValue.parse(try await HTTPTestClient.request(.POST, harness.url, body: code, headers: [("X-Api-Key", Self.withdrawals)]).body)
        #expect(allowed["result"] != nil)
        // Metrics name clients, never their keys.
        var text: [UInt8] = []
        registry.emit(into: &text)
        let metrics = String(decoding: text, as: UTF8.self)
        #expect(metrics.contains(#"bulwark_client_calls_total{client="dashboard-limited",priority="bulk",result="rate_limited"}"#), "\(metrics.prefix(3000))")
        #expect(!metrics.contains(Self.dashboard) && !metrics.contains(Self.withdrawals))
    }
}
