import EthereumKit
import NIOCore
import Simnet
import SimnetTesting
import Testing
@testable import Upstreams

@Suite struct UpstreamTransportTests {
    static let blockNumber = ByteBuffer(string: #"{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}"#)

    @Test func reusesKeepAliveConnections() async throws {
        let simnet = try await SimnetHarness.start()
        defer { Task { await simnet.stop() } }
        simnet.mine(3)
        let transport = try UpstreamTransport(url: simnet.url("alchemy-use1"))
        for _ in 0..<50 {
            let response = try await transport.post(Self.blockNumber, timeout: .seconds(2))
            #expect(response.status == 200)
            #expect(try JSONValue.parse(Array(response.body.readableBytesView))["result"] == .string("0x3"))
        }
        #expect(await transport.connectionsOpened() <= 2, "one connection per event loop at most")
        await transport.shutdown()
        #expect(await transport.idleConnectionCount() == 0)
    }

    @Test func classifiesFailures() async throws {
        let simnet = try await SimnetHarness.start()
        defer { Task { await simnet.stop() } }
        let refused = try UpstreamTransport(url: simnet.url("alchemy-use1"))
        try await simnet.setFault(.down, matching: ["id": "alchemy-use1"])
        await #expect(throws: UpstreamTransportError(.connectionRefused, "connection refused")) {
            try await refused.post(Self.blockNumber, timeout: .seconds(1))
        }
        let stalled = try UpstreamTransport(url: simnet.url("infura-use1"))
        // Connections made beforehand on every event loop: the stall, not a slow connect on a busy
        // machine, is what times out. Each loop is warmed from itself (a request goes out on the loop
        // it is sent from): warming from tasks left it to the scheduler which loops got connections,
        // and a loaded CI run sent the stalled request from one that had none ("connect timed out").
        let warmed = await withTaskGroup(of: Bool.self) { group in
            for loop in stalled.group.makeIterator() {
                for _ in 0..<4 {
                    group.addTask {
                        let answer = loop.makePromise(of: UpstreamHTTPResponse.self)
                        loop.execute { stalled.send(Self.blockNumber, timeout: .seconds(5)) { answer.completeWith($0.mapError { $0 }) } }
                        return (try? await answer.futureResult.get().status) == 200
                    }
                }
            }
            return await group.reduce(true) { $0 && $1 }
        }
        #expect(warmed)
        try await simnet.setFault(.stall, matching: ["id": "infura-use1"])
        let clock = ContinuousClock()
        let start = clock.now
        await #expect(throws: UpstreamTransportError(.timeout, "no answer before the deadline")) {
            try await stalled.post(Self.blockNumber, timeout: .milliseconds(300))
        }
        #expect(clock.now - start < .seconds(2))
        try await simnet.setFault(.ratelimit, matching: ["id": "ankr-eastus"])
        let limited = try await UpstreamTransport(url: simnet.url("ankr-eastus")).post(Self.blockNumber, timeout: .seconds(5))
        #expect(limited.status == 429)
        #expect(limited.headers["Retry-After"] == "1")
    }

    /// A face that goes down and comes back: the pooled connections die with it, new ones are opened after.
    @Test func recoversAfterTheUpstreamDropsConnections() async throws {
        let simnet = try await SimnetHarness.start()
        defer { Task { await simnet.stop() } }
        let transport = try UpstreamTransport(url: simnet.url("own-node"))
        // Generous deadlines: what is tested is that the second call gets through at all, on a new
        // connection; a busy CI machine can take over a second to answer either.
        #expect(try await transport.post(Self.blockNumber, timeout: .seconds(5)).status == 200)
        try await simnet.setFault(.down, matching: ["id": "own-node"])
        try await simnet.setFault(.none, matching: ["id": "own-node"])
        #expect(try await transport.post(Self.blockNumber, timeout: .seconds(5)).status == 200)
    }

    @Test func parsesEndpoints() throws {
        let infura = try UpstreamEndpoint(url: "https://mainnet.infura.io/v3/abc123")
        #expect(infura.isTLS && infura.host == "mainnet.infura.io" && infura.port == 443 && infura.path == "/v3/abc123")
        let local = try UpstreamEndpoint(url: "http://127.0.0.1:8545")
        #expect(!local.isTLS && local.port == 8545 && local.path == "/")
        let v6 = try UpstreamEndpoint(url: "http://[::1]:9000/rpc?x=1")
        #expect(v6.host == "::1" && v6.port == 9000 && v6.path == "/rpc?x=1" && v6.hostHeader == "[::1]:9000")
        #expect(throws: UpstreamTransportError.self) { try UpstreamEndpoint(url: "ftp://x") }
        #expect(throws: UpstreamTransportError.self) { try UpstreamEndpoint(url: "http://host:99999") }
    }
}
