import BulwarkServer
import EthereumKit
import Failsafe
import Foundation
import Routing
import SimnetTesting
import Synchronization
import Testing

/// teth (PyPI) answers like a careless provider: decimal numbers where hex belongs, an HTML
/// 500 page for every batch, and -32603 wrapping "not implemented". With it as one of the
/// upstreams, Bulwark fails over wherever its answer is an upstream fault, and the client
/// never sees HTML.
@Suite struct MisbehavingServerTests {
    @Test(.enabled("needs eth-tester and teth from PyPI") { await EVMEnvironment.prepare() }, .timeLimit(.minutes(3)))
    func tethAnswersNeverReachTheClient() async throws {
        let node = try await EVMNode.start(faces: 1)
        defer { Task { await node.stop() } }
        // teth binds a port the kernel picks and says which (a port chosen beforehand could be
        // taken by another test's server in between).
        let teth = Process()
        teth.executableURL = URL(fileURLWithPath: EVMEnvironment.python)
        teth.arguments = [EVMEnvironment.tools.appendingPathComponent("teth_loopback.py").path]
        let output = Pipe()
        teth.standardOutput = output
        teth.standardError = output
        let collected = OutputCollector()
        output.fileHandleForReading.readabilityHandler = { collected.append($0.availableData) }
        try teth.run()
        // SIGKILL: the child inherits the test runner's blocked signals, so SIGTERM would wait forever.
        defer { kill(teth.processIdentifier, SIGKILL) }
        var announced: String?
        for _ in 0..<300 where announced == nil {
            if let line = collected.text.split(separator: "\n").first(where: { $0.hasPrefix("ready ") }) {
                announced = String(line.dropFirst("ready ".count))
            } else {
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        let tethURL = try #require(announced, "teth did not start: \(collected.text)")
        // teth really misbehaves: HTML for a batch, a decimal number for a quantity.
        let batch = try await HTTPTestClient.request(.POST, tethURL, body: #"[{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}]"#)
        #expect(batch.status.code == 500 && batch.text.contains("<html"))
        let decimal = try JSONValue.parse(try await HTTPTestClient.request(.POST, tethURL, body: #"{"jsonrpc":"2.0","id":1,"method":"eth_getBalance","params":["0x0000000000000000000000000000000000000001","latest"]}"#).body)
        #expect(decimal["result"] == .number(0))

        var routing = RouterConfiguration(chainName: "eth", chainId: node.chainId, upstreams: [
            UpstreamSpec(id: "teth", url: tethURL, domain: FailureDomain(provider: "teth", cloud: "aws", region: "us-east-1")),
            UpstreamSpec(id: "evm", url: node.faces[0], domain: FailureDomain(provider: "evm", cloud: "gcp", region: "europe-west1")),
        ])
        routing.headPollInterval = .milliseconds(100)
        let router = try ChainRouter(configuration: routing)
        let gateway = Gateway(chains: [GatewayChain(name: "eth", router: router)])
        let bound = Mutex<Int?>(nil)
        let server = gateway.server(host: "127.0.0.1", port: 0) { port in bound.withLock { $0 = port } }
        let services = [Task { try? await router.run() }, Task { try? await server.run() }]
        defer { for service in services { service.cancel() } }
        while bound.withLock({ $0 }) == nil { try await Task.sleep(for: .milliseconds(10)) }
        await router.pollHeads()
        let url = "http://127.0.0.1:\(bound.withLock { $0! })/eth"

        let account = "0x0000000000000000000000000000000000000001"
        let calls = [
            #"{"jsonrpc":"2.0","id":1,"method":"eth_getBalance","params":["\#(account)","latest"]}"#,
            #"{"jsonrpc":"2.0","id":2,"method":"eth_getTransactionCount","params":["\#(account)","latest"]}"#,
            #"{"jsonrpc":"2.0","id":3,"method":"eth_getProof","params":["\#(account)",[],"latest"]}"#,
            #"{"jsonrpc":"2.0","id":4,"method":"eth_gasPrice","params":[]}"#,
            #"[{"jsonrpc":"2.0","id":5,"method":"eth_getBlockByNumber","params":["latest",false]},{"jsonrpc":"2.0","id":6,"method":"eth_getCode","params":["\#(account)","latest"]}]"#,
        ]
        var answered = 0
        for round in 0..<40 {
            let body = calls[round % calls.count]
            let response = try await HTTPTestClient.request(.POST, url, body: body, timeout: .seconds(10))
            #expect(!response.text.lowercased().contains("<html"), "\(response.text.prefix(200))")
            let json = try JSONValue.parse(response.body)
            for answer in json.arrayValue ?? [json] {
                #expect(answer["result"] != nil, "\(body): \(answer.serialized().prefix(300))")
                if let result = answer["result"], case .number = result { Issue.record("a decimal number reached the client: \(body)") }
                answered += 1
            }
        }
        #expect(answered == 48)
        // teth cannot answer the head poll (a batch: HTML 500; alone: decimal numbers), so Bulwark
        // holds it unhealthy and says why; its probes, when they come, fail over to the other upstream.
        let status = try #require(router.status().upstreams.first { $0.id == "teth" })
        #expect(status.failures > 0 && status.state != "healthy", "\(status)")
        #expect(status.lastFailure?.contains("HTTP 500") == true, "\(status.lastFailure ?? "")")
        await router.shutdown()
    }
}
