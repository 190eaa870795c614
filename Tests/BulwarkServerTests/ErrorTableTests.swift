import BulwarkServer
import EthereumKit
import Routing
import SimnetTesting
import Testing

/// Each row of SPEC section 3's error table, produced over HTTP; after each the gateway still serves.
@Suite(.serialized) struct ErrorTableTests {
    @Test func everyRowOfTheErrorTable() async throws {
        var limits = GatewayLimits()
        limits.maxBodyBytes = 4096
        limits.maxBatchSize = 5
        let harness = try await GatewayHarness.start(limits: limits, allows: { !$0.hasPrefix("debug_") && !$0.hasPrefix("admin_") })
        defer { Task { await harness.stop() } }
        let root = String(harness.url.dropLast("/eth".count))
        let call = #"{"jsonrpc":"2.0","id":1,"method":"eth_chainId"}"#
        let cases: [(url: String, body: String, status: Int, code: Int?)] = [
            (harness.url, "{not json", 400, -32700),
            (harness.url, #"{"jsonrpc":"1.0","id":1,"method":"eth_chainId"}"#, 400, -32600),
            (harness.url, #"{"jsonrpc":"2.0","id":1}"#, 400, -32600),
            (harness.url, "[]", 400, -32600),
            (harness.url, "[" + Array(repeating: call, count: 6).joined(separator: ",") + "]", 413, -32600),
            (harness.url, #"{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[""# + String(repeating: "a", count: 5000) + #""]}"#, 413, -32600),
            (root + "/polygon", call, 404, nil),
            (harness.url, #"{"jsonrpc":"2.0","id":1,"method":"debug_traceTransaction","params":[]}"#, 200, -32601),
        ]
        for (url, body, status, code) in cases {
            let response = try await HTTPTestClient.request(.POST, url, body: body)
            #expect(Int(response.status.code) == status, "\(body.prefix(60)): \(response.text.prefix(200))")
            if let code {
                let json = try JSONValue.parse(response.body)
                let error = json.arrayValue?.first?["error"] ?? json["error"]
                #expect(error?["code"] == .number(Double(code)), "\(body.prefix(60)): \(response.text.prefix(200))")
                #expect(error?["data"] != nil || code == -32601, "error data says why")
            }
            // Still serving.
            let ok = try await HTTPTestClient.call(harness.url, "eth_chainId")
            #expect(ok == .string("0x539"))
        }
    }

    @Test func idsBatchesAndNotifications() async throws {
        let harness = try await GatewayHarness.start()
        defer { Task { await harness.stop() } }
        let batch = #"[{"jsonrpc":"2.0","id":"x","method":"eth_chainId"},{"jsonrpc":"2.0","method":"eth_chainId"},{"jsonrpc":"2.0","id":null,"method":"eth_blockNumber"},{"jsonrpc":"2.0","id":3.5,"method":"eth_getBalance","params":["0x0000000000000000000000000000000000000001","latest"]},{"jsonrpc":"2.0","id":[1],"method":"eth_chainId"}]"#
        let response = try await HTTPTestClient.request(.POST, harness.url, body: batch)
        #expect(response.status.code == 200)
        let answers = try #require(try JSONValue.parse(response.body).arrayValue)
        // The notification gets no answer; the others keep their order and ids of any JSON type.
        #expect(answers.count == 4)
        #expect(answers[0]["id"] == .string("x") && answers[0]["result"] == .string("0x539"))
        #expect(answers[1]["id"] == .null && answers[1]["result"] != nil)
        #expect(answers[2]["id"] == .number(3.5) && answers[2]["result"] != nil)
        #expect(answers[3]["error"]?["code"] == .number(-32600))
        #expect(response.headers["X-Bulwark-Cache"] == ["miss"])
        #expect(!(response.headers["X-Bulwark-Upstream"].first ?? "").isEmpty)
        // Elements that are not calls each get -32600; a call with a key written twice is still answered.
        let odd = try await HTTPTestClient.request(.POST, harness.url, body: #"[1, "x", {"jsonrpc":"2.0","id":7,"id":8,"method":"eth_chainId"}, {"id":2}]"#)
        let oddAnswers = try #require(try JSONValue.parse(odd.body).arrayValue)
        #expect(oddAnswers.count == 4)
        #expect(oddAnswers[0]["error"]?["code"] == .number(-32600) && oddAnswers[1]["error"]?["code"] == .number(-32600))
        #expect(oddAnswers[2]["result"] == .string("0x539") && [.number(7), .number(8)].contains(oddAnswers[2]["id"]))
        #expect(oddAnswers[3]["error"]?["code"] == .number(-32600) && oddAnswers[3]["id"] == .number(2))
        let notification = try await HTTPTestClient.request(.POST, harness.url, body: #"{"jsonrpc":"2.0","method":"eth_chainId"}"#)
        #expect(notification.status.code == 204 && notification.body.isEmpty)
        // Request errors from upstreams pass through unchanged and are not retried elsewhere.
        let bad = try await HTTPTestClient.request(.POST, harness.url, body: #"{"jsonrpc":"2.0","id":9,"method":"eth_getBalance","params":["0x1234","latest"]}"#)
        let json = try JSONValue.parse(bad.body)
        #expect(json["error"]?["code"] == .number(-32602))
        #expect(bad.headers["X-Bulwark-Upstream"].count == 1)
    }
}
