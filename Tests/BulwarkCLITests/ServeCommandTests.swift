import EthereumKit
import Foundation
import Simnet
import SimnetTesting
import Testing

@Suite struct ServeCommandTests {
    /// `bulwark serve --config FILE` in front of a simnet: answers, enforces API keys, and exits 0 on SIGTERM.
    @Test func servesAndShutsDownGracefully() async throws {
        let simnet = try await SimnetHarness.start()
        defer { Task { await simnet.stop() } }
        simnet.mine(5)
        let upstreams = simnet.faces.map { face in
            """
                  - id: \(face.id)
                    url: \(face.url)
                    labels: { provider: \(face.provider), cloud: \(face.cloud), region: \(face.region) }
            """
        }.joined(separator: "\n")
        let yaml = """
            server:
              listen: "127.0.0.1:0"
            cache:
              store: none
            auth:
              adminKey: admin-key-for-tests
              keys:
                - key: client-key-for-tests
                  name: tests
            chains:
              - name: eth
                chainId: 1337
                upstreams:
            \(upstreams)
            """
        let config = FileManager.default.temporaryDirectory.appendingPathComponent("serve-\(UUID().uuidString).yaml")
        try yaml.write(to: config, atomically: true, encoding: .utf8)
        let check = try BulwarkProcess.run(["check-config", config.path])
        #expect(check.status == 0, "\(check.stderr)")

        let process = Process()
        process.executableURL = BulwarkProcess.executable
        process.arguments = ["serve", "--config", config.path]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { process.terminate() } }
        var log = ""
        let deadline = Date().addingTimeInterval(20)
        while !log.contains("server.address=") && Date() < deadline && process.isRunning {
            log += String(decoding: errors.fileHandleForReading.availableData, as: UTF8.self)
        }
        let address = try #require(log.firstRange(of: /server\.address=http:\/\/127\.0\.0\.1:\d+/).map { String(log[$0].dropFirst("server.address=".count)) }, "\(log)")
        #expect(!log.contains(simnet.faces[0].url), "upstream URLs are not logged as is")

        let call = #"{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"}"#
        #expect(try await HTTPTestClient.request(.POST, address + "/eth", body: call).status.code == 401)
        let withHeader = try await HTTPTestClient.request(.POST, address + "/eth", body: call, headers: [("X-Api-Key", "client-key-for-tests")])
        #expect(withHeader.status.code == 200, "\(withHeader.text)")
        #expect(try JSONValue.parse(withHeader.body)["result"] == .string("0x5"))
        let inPath = try await HTTPTestClient.request(.POST, address + "/eth/client-key-for-tests", body: call)
        #expect(inPath.status.code == 200)
        #expect(try await HTTPTestClient.request(.POST, address + "/eth/wrong-key", body: call).status.code == 401)
        #expect(try await HTTPTestClient.request(.GET, address + "/readyz").status.code == 200)

        process.terminate()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        await #expect(throws: HTTPTestClient.Failure.connectionRefused) {
            try await HTTPTestClient.request(.POST, address + "/eth", body: call)
        }
    }

    @Test func withoutAConfigItNamesDemoAndInit() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("empty-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let process = Process()
        process.executableURL = BulwarkProcess.executable
        process.arguments = ["serve"]
        process.currentDirectoryURL = directory
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        process.waitUntilExit()
        let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus == 2)
        #expect(text.contains("bulwark init") && text.contains("bulwark demo"), "\(text)")
    }
}

@Suite struct VerifiedServeTests {
    /// `verify: { quorumDomains: 2 }` in the YAML: `bulwark serve` proves balances and says so.
    @Test func verifyInTheConfigTurnsVerifiedReadsOn() async throws {
        let simnet = try await SimnetHarness.start()
        defer { Task { await simnet.stop() } }
        simnet.mine(5)
        let gateway = try await ServedGateway.start(upstreams: ServedGateway.upstreams(simnet), chain: "verify: { quorumDomains: 2, coolingPeriod: 30s }")
        defer { gateway.remove() }
        let address = gateway.address
        try await simnet.setFault(.lie, matching: ["id": simnet.faces[0].id])
        let account = simnet.chain.accounts[2].address
        for _ in 0..<20 {
            let response = try await HTTPTestClient.request(.POST, address + "/eth", body: #"{"jsonrpc":"2.0","id":1,"method":"eth_getBalance","params":["\#(Hex.encode(account))","0x3"]}"#)
            #expect(response.headers.first(name: "X-Bulwark-Verified") == "true")
            #expect(try JSONValue.parse(response.body)["result"] == simnet.chain.balance(of: account, atBlock: 3).map { .string(Hex.encodeQuantity($0)) })
        }
        let unverifiable = try await HTTPTestClient.request(.POST, address + "/eth", body: #"{"jsonrpc":"2.0","id":1,"method":"eth_gasPrice"}"#)
        #expect(unverifiable.headers.first(name: "X-Bulwark-Verified") == "false")
    }
}
