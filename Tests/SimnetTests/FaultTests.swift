import EthereumKit
import NIOHTTP1
import Simnet
import SimnetTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite struct FaultTests {
    @Test func downRefusesConnectionsAndComesBackOnTheSamePort() async throws {
        let simnet = try await SimnetHarness.start()
        defer { Task { await simnet.stop() } }
        let url = simnet.url("alchemy-use1")
        #expect(try await HTTPTestClient.call(url, "eth_chainId") == .string("0x539"))
        try await simnet.setFault(.down, matching: ["id": "alchemy-use1"])
        await #expect(throws: HTTPTestClient.Failure.connectionRefused) {
            try await HTTPTestClient.request(.POST, url, body: "{}")
        }
        // The other faces keep serving.
        #expect(try await HTTPTestClient.call(simnet.url("infura-use1"), "eth_chainId") == .string("0x539"))
        try await simnet.setFault(.none, matching: ["id": "alchemy-use1"])
        #expect(simnet.url("alchemy-use1") == url)
        #expect(try await HTTPTestClient.call(url, "eth_chainId") == .string("0x539"))
    }

    @Test func stallAcceptsAndNeverAnswers() async throws {
        let simnet = try await SimnetHarness.start()
        defer { Task { await simnet.stop() } }
        try await simnet.setFault(.stall, matching: ["id": "infura-use1"])
        let clock = ContinuousClock()
        let started = clock.now
        await #expect(throws: HTTPTestClient.Failure.timedOut) {
            try await HTTPTestClient.call(simnet.url("infura-use1"), "eth_blockNumber", timeout: .milliseconds(400))
        }
        #expect(clock.now - started >= .milliseconds(400))
    }

    @Test func slowAnswersLate() async throws {
        let simnet = try await SimnetHarness.start()
        defer { Task { await simnet.stop() } }
        try await simnet.setFault(.slow(milliseconds: 300), matching: ["id": "own-node"])
        let clock = ContinuousClock()
        let started = clock.now
        #expect(try await HTTPTestClient.call(simnet.url("own-node"), "eth_chainId") == .string("0x539"))
        #expect(clock.now - started >= .milliseconds(300))
    }

    @Test func lagServesAnOldHead() async throws {
        let simnet = try await SimnetHarness.start()
        defer { Task { await simnet.stop() } }
        simnet.mine(10)
        try await simnet.setFault(.lag(blocks: 3), matching: ["id": "ankr-eastus"])
        #expect(try await HTTPTestClient.call(simnet.url("ankr-eastus"), "eth_blockNumber") == .string("0x7"))
        #expect(try await HTTPTestClient.call(simnet.url("ankr-eastus"), "eth_getBlockByNumber", [.string("0x9"), .bool(false)]) == .null)
        #expect(try await HTTPTestClient.call(simnet.url("own-node"), "eth_blockNumber") == .string("0xa"))
    }

    @Test func lieGivesWrongBalancesAndForgedProofs() async throws {
        let simnet = try await SimnetHarness.start()
        defer { Task { await simnet.stop() } }
        simnet.mine()
        let account = JSONValue.data(simnet.chain.accounts[0].address)
        let honest = try await HTTPTestClient.call(simnet.url("own-node"), "eth_getBalance", [account, .string("latest")])
        try await simnet.setFault(.lie, matching: ["id": "quicknode-euw1"])
        let liar = simnet.url("quicknode-euw1")
        let lie = try await HTTPTestClient.call(liar, "eth_getBalance", [account, .string("latest")])
        #expect(lie != honest)
        #expect(lie == .string("0x0"))
        let block = try await HTTPTestClient.call(simnet.url("own-node"), "eth_getBlockByNumber", [.string("latest"), .bool(false)])
        let stateRoot = try BlockHeader(json: block).stateRoot
        let forged = try await HTTPTestClient.call(liar, "eth_getProof", [account, .array([]), .string("latest")])
        #expect(forged["balance"] == .string("0x0"))
        #expect(throws: VerificationError.self) { try AccountProof(json: forged).verify(stateRoot: stateRoot) }
        let genuine = try await HTTPTestClient.call(simnet.url("own-node"), "eth_getProof", [account, .array([]), .string("latest")])
        try AccountProof(json: genuine).verify(stateRoot: stateRoot)
    }

    @Test func ratelimitGarbageWrongchainFlaky() async throws {
        let simnet = try await SimnetHarness.start()
        defer { Task { await simnet.stop() } }
        let body = #"{"jsonrpc":"2.0","id":1,"method":"eth_chainId"}"#

        try await simnet.setFault(.ratelimit, matching: ["id": "alchemy-use1"])
        let limited = try await HTTPTestClient.request(.POST, simnet.url("alchemy-use1"), body: body)
        #expect(limited.status == .tooManyRequests)
        #expect(limited.headers["Retry-After"] == ["1"])
        #expect(try JSONValue.parse(limited.body)["error"]?["code"] == .number(-32005))

        try await simnet.setFault(.garbage, matching: ["id": "infura-use1"])
        let garbage = try await HTTPTestClient.request(.POST, simnet.url("infura-use1"), body: body)
        #expect(garbage.status == .ok)
        #expect(throws: VerificationError.self) { try JSONValue.parse(garbage.body) }

        try await simnet.setFault(.wrongchain, matching: ["id": "quicknode-euw1"])
        #expect(try await HTTPTestClient.call(simnet.url("quicknode-euw1"), "eth_chainId") == .string("0x53a"))

        try await simnet.setFault(.flaky(probability: 1), matching: ["id": "ankr-eastus"])
        #expect(try await HTTPTestClient.request(.POST, simnet.url("ankr-eastus"), body: body).status == .serviceUnavailable)
        try await simnet.setFault(.flaky(probability: 0.5), matching: ["id": "ankr-eastus"])
        var failures = 0
        for _ in 0..<200 {
            if try await HTTPTestClient.request(.POST, simnet.url("ankr-eastus"), body: body).status != .ok { failures += 1 }
        }
        #expect((50...150).contains(failures), "\(failures) of 200 failed at p = 0.5")
    }

    /// `cutoff` and `reset` announce a whole body and deliver half: the client sees a broken answer, not a short one.
    @Test func cutoffAndResetBreakTheAnswer() async throws {
        let simnet = try await SimnetHarness.start()
        defer { Task { await simnet.stop() } }
        let body = #"{"jsonrpc":"2.0","id":1,"method":"eth_getBlockByNumber","params":["0x0",true]}"#
        for fault in [Fault.cutoff, .reset] {
            try await simnet.setFault(fault, matching: ["id": "own-node"])
            await #expect(throws: HTTPTestClient.Failure.self, "\(fault)") {
                try await HTTPTestClient.request(.POST, simnet.url("own-node"), body: body, timeout: .seconds(2))
            }
        }
    }

    /// A whole failure domain goes down with one admin call, over HTTP as an operator would.
    @Test func domainFaultOverTheAdminAPI() async throws {
        let simnet = try await SimnetHarness.start()
        defer { Task { await simnet.stop() } }
        // Generous: closing two listeners waits for their connections, slow on a busy machine.
        let response = try await HTTPTestClient.request(.POST, simnet.adminURL + "/faults",
                                                        body: #"{"fault":"down","match":{"cloud":"aws","region":"us-east-1"}}"#, timeout: .seconds(20))
        #expect(response.status == .ok)
        #expect(try JSONValue.parse(response.body)["changed"] == .array([.string("alchemy-use1"), .string("infura-use1")]))
        for id in ["alchemy-use1", "infura-use1"] {
            await #expect(throws: HTTPTestClient.Failure.connectionRefused) {
                try await HTTPTestClient.request(.POST, simnet.url(id), body: "{}")
            }
        }
        #expect(try await HTTPTestClient.call(simnet.url("quicknode-euw1"), "eth_chainId") == .string("0x539"))
        let faces = try JSONValue.parse(try await HTTPTestClient.request(.GET, simnet.adminURL + "/faces").body)
        #expect(faces.arrayValue?.filter { $0["fault"] == .string("down") }.count == 2)

        let bad = try await HTTPTestClient.request(.POST, simnet.adminURL + "/faults", body: #"{"fault":"sideways"}"#)
        #expect(bad.status == .badRequest)
        let noMatch = try await HTTPTestClient.request(.POST, simnet.adminURL + "/faults", body: #"{"fault":"down","match":{"cloud":"oracle"}}"#)
        #expect(noMatch.status == .notFound)

        let cleared = try await HTTPTestClient.request(.DELETE, simnet.adminURL + "/faults", timeout: .seconds(20))
        #expect(cleared.status == .ok)
        #expect(try await HTTPTestClient.call(simnet.url("alchemy-use1"), "eth_chainId") == .string("0x539"))
        let mined = try await HTTPTestClient.request(.POST, simnet.adminURL + "/mine", body: #"{"blocks":3}"#)
        #expect(try JSONValue.parse(mined.body)["head"] == .string("0x3"))
    }

    @Test func shutdownLeavesNoListeningSocket() async throws {
        let simnet = try await SimnetHarness.start()
        let urls = simnet.faces.map(\.url) + [simnet.adminURL]
        // Keep a connection open across the shutdown, as a real client would.
        try await simnet.setFault(.stall, matching: ["id": "own-node"])
        let stallURL = simnet.url("own-node")
        let stalled = Task { try await HTTPTestClient.request(.POST, stallURL, body: "{}", timeout: .seconds(10)) }
        try await Task.sleep(for: .milliseconds(100))
        await simnet.stop()
        for url in urls {
            await #expect(throws: HTTPTestClient.Failure.connectionRefused, "\(url)") {
                try await HTTPTestClient.request(.POST, url, body: "{}")
            }
        }
        await #expect(throws: (any Error).self) { try await stalled.value }
    }
}

@Suite struct SimnetConfigurationTests {
    @Test func parsesTheDocumentedForm() throws {
        let config = try SimnetConfiguration.parse(yaml: """
            chainId: 5
            blockTime: 250ms
            finalityDepth: 4
            accounts: 3
            faces:
              - id: a
                labels: { provider: p1, cloud: aws, region: us-east-1 }
                fault: slow:200ms
              - id: b
                labels: { provider: p2, cloud: gcp, region: europe-west1 }
                fault: flaky:0.25
            """)
        #expect(config.chainId == 5)
        #expect(config.blockTime == .milliseconds(250))
        #expect(config.accountCount == 3)
        #expect(config.faces.map(\.fault) == [.slow(milliseconds: 200), .flaky(probability: 0.25)])
        #expect(try SimnetConfiguration.parse(yaml: "blockTime: 0").blockTime == nil)
    }

    @Test(arguments: [
        ("chainId: -1", "chainId: expected a positive integer"),
        ("faces: []", "faces: expected a non-empty list"),
        ("faces:\n  - id: a\n    labels: { provider: p, cloud: c }", "faces[0].labels.region: missing"),
        ("faces:\n  - id: a\n    labels: { provider: p, cloud: c, region: r }\n    fault: sideways", "faces[0].fault: unknown fault 'sideways'"),
        ("blokTime: 1s", "blokTime: unknown setting"),
        ("chainId: [", "not valid YAML"),
    ])
    func reportsErrors(yaml: String, message: String) {
        do {
            _ = try SimnetConfiguration.parse(yaml: yaml)
            Issue.record("accepted: \(yaml)")
        } catch {
            #expect(error.message.hasPrefix(message), "\(error.message)")
        }
    }

    @Test func faultsRoundTrip() throws {
        for text in ["none", "down", "stall", "slow:200ms", "lag:5", "lie", "ratelimit", "garbage", "wrongchain", "flaky:0.3", "cutoff", "reset"] {
            #expect(try Fault(parsing: text).description == text)
        }
        #expect(throws: SimnetConfigurationError.self) { try Fault(parsing: "lag:-1") }
        #expect(throws: SimnetConfigurationError.self) { try Fault(parsing: "flaky:2") }
    }
}
