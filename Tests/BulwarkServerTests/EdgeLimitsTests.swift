import BulwarkServer
import EthereumKit
import Foundation
import SimnetTesting
import Testing

/// The edge's limits against abusive clients (SPEC section 2, `server`): each one refuses the
/// offending connection with a clear status and leaves everyone else served.
@Suite struct EdgeLimitsTests {
    static func limits(_ change: (inout GatewayLimits) -> Void) -> GatewayLimits {
        var limits = GatewayLimits()
        change(&limits)
        return limits
    }

    /// A client sending one byte every 100 ms gets 408 once the read timeout has passed, while
    /// another client's calls go on being answered.
    @Test func aSlowClientIsCutOffWhileOthersAreServed() async throws {
        let harness = try await GatewayHarness.start(limits: Self.limits { $0.readTimeout = .seconds(1) })
        defer { Task { await harness.stop() } }
        let slow = try await RawConnection.open(port: harness.port)
        defer { slow.close() }
        let request = EdgeServerTests.post("/eth", EdgeServerTests.call)
        let started = ContinuousClock.now
        let trickle = Task {
            for byte in request.utf8 {
                guard !slow.isClosed else { break }
                try? await slow.send(String(UnicodeScalar(byte)))
                try? await Task.sleep(for: .milliseconds(100))
            }
        }
        defer { trickle.cancel() }
        var answered = 0
        while !slow.isClosed && ContinuousClock.now - started < .seconds(5) {
            if (try? await HTTPTestClient.call(harness.url, "eth_chainId")) != nil { answered += 1 }
            try await Task.sleep(for: .milliseconds(50))
        }
        let cutAfter = ContinuousClock.now - started
        #expect(slow.isClosed, "the slow client is still connected after \(cutAfter)")
        #expect(cutAfter >= .milliseconds(900) && cutAfter < .seconds(3), "cut off after \(cutAfter)")
        #expect(try await slow.read { _ in true }.hasPrefix("HTTP/1.1 408 Request Timeout"))
        #expect(answered >= 1, "no call of the other client answered meanwhile")
    }

    /// A request whose body trickles in is cut off the same way.
    @Test func aSlowBodyIsCutOff() async throws {
        let harness = try await GatewayHarness.start(limits: Self.limits { $0.readTimeout = .milliseconds(600) })
        defer { Task { await harness.stop() } }
        let slow = try await RawConnection.open(port: harness.port)
        defer { slow.close() }
        try await slow.send("POST /eth HTTP/1.1\r\nHost: x\r\nContent-Length: 200\r\n\r\n{")
        let reply = try await slow.read(timeout: .seconds(3)) { _ in false }
        #expect(reply.hasPrefix("HTTP/1.1 408 Request Timeout") && slow.isClosed)
    }

    @Test func anIdleConnectionIsClosedAndABusyOneIsNot() async throws {
        let harness = try await GatewayHarness.start(limits: Self.limits { $0.idleTimeout = .seconds(1) })
        defer { Task { await harness.stop() } }
        let idle = try await RawConnection.open(port: harness.port)
        let busy = try await RawConnection.open(port: harness.port)
        defer {
            idle.close()
            busy.close()
        }
        let started = ContinuousClock.now
        var round = 0
        while ContinuousClock.now - started < .milliseconds(2_500) {
            round += 1
            try await busy.send(EdgeServerTests.post("/eth", EdgeServerTests.call))
            _ = try await busy.read { $0.components(separatedBy: "HTTP/1.1 200 OK").count == round + 1 }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(idle.isClosed, "idle for 2.5 s with a 1 s idle timeout")
        #expect(!busy.isClosed, "a request every 0.1 s keeps the connection")
    }

    /// Headers or a request target over `maxHeaderBytes` (the decoder counts them together).
    @Test func oversizedHeadersOrTargetGet431() async throws {
        let harness = try await GatewayHarness.start(limits: Self.limits { $0.maxHeaderBytes = 2_048 })
        defer { Task { await harness.stop() } }
        let big = "X-Padding: " + String(repeating: "a", count: 4_000) + "\r\n"
        let headers = try await RawConnection.exchange(port: harness.port, EdgeServerTests.post("/eth", EdgeServerTests.call, extra: big)) { _ in false }
        #expect(headers.text.hasPrefix("HTTP/1.1 431 Request Header Fields Too Large") && headers.closed)
        let target = try await RawConnection.exchange(port: harness.port, EdgeServerTests.post("/" + String(repeating: "e", count: 3_000), EdgeServerTests.call)) { _ in false }
        #expect(target.text.hasPrefix("HTTP/1.1 431 Request Header Fields Too Large") && target.closed, "\(target.text.prefix(200))")
        #expect(try await HTTPTestClient.call(harness.url, "eth_chainId") == .quantity(harness.simnet.chain.chainId))
    }

    @Test func connectionsOverTheLimitGet503UntilOneCloses() async throws {
        let harness = try await GatewayHarness.start(limits: Self.limits { $0.maxConnections = 3 })
        defer { Task { await harness.stop() } }
        var open: [RawConnection] = []
        for _ in 0..<3 {
            // Answered: the server has counted it (accepting is not enough to know that).
            let connection = try await RawConnection.open(port: harness.port)
            try await connection.send(EdgeServerTests.post("/eth", EdgeServerTests.call))
            _ = try await connection.read { $0.contains(#""result""#) }
            open.append(connection)
        }
        let refused = try await RawConnection.exchange(port: harness.port, EdgeServerTests.post("/eth", EdgeServerTests.call)) { _ in false }
        #expect(refused.text.hasPrefix("HTTP/1.1 503 Service Unavailable") && refused.closed)
        open.removeFirst().close()
        // Once the server has seen the close, a new connection is served.
        var admitted = ""
        for _ in 0..<50 where !admitted.hasPrefix("HTTP/1.1 200 OK") {
            try await Task.sleep(for: .milliseconds(100))
            // Until the server has seen the close, the attempt is refused (503 and closed, sometimes
            // before the request is written): try again.
            admitted = (try? await RawConnection.exchange(port: harness.port, EdgeServerTests.post("/eth", EdgeServerTests.call)) { $0.contains(#""result""#) })?.text ?? ""
        }
        #expect(admitted.hasPrefix("HTTP/1.1 200 OK"), "\(admitted.prefix(100))")
        for connection in open { connection.close() }
    }

    @Test func jsonNestedDeeperThanTheLimitIsAParseError() async throws {
        let harness = try await GatewayHarness.start(limits: Self.limits { $0.maxJsonDepth = 8 })
        defer { Task { await harness.stop() } }
        let deep = #"{"jsonrpc":"2.0","id":1,"method":"eth_call","params":"# + String(repeating: "[", count: 9) + String(repeating: "]", count: 9) + "}"
        let response = try await HTTPTestClient.request(.POST, harness.url, body: deep)
        #expect(response.status.code == 400)
        let error = try JSONValue.parse(response.body)["error"]
        #expect(error?["code"] == .number(-32700))
        #expect(error?["data"]?.stringValue?.contains("nested deeper than 8") == true)
        let shallow = #"{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[[[[]]]]}"#
        #expect(try await HTTPTestClient.request(.POST, harness.url, body: shallow).status.code == 200)
        // In a batch the array counts as one level: the same call one level deeper is refused whole.
        let deepBatch = try await HTTPTestClient.request(.POST, harness.url, body: "[" + String(repeating: "[", count: 8) + String(repeating: "]", count: 8) + "]")
        #expect(deepBatch.status.code == 400)
        #expect(try JSONValue.parse(deepBatch.body)["error"]?["data"]?.stringValue?.contains("nested deeper than 8") == true)
        let shallowBatch = try await HTTPTestClient.request(.POST, harness.url, body: "[" + shallow + "]")
        #expect(try JSONValue.parse(shallowBatch.body).arrayValue?.first?["result"] == .string("0x539"))
    }
}
