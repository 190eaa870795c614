import BulwarkServer
import EthereumKit
import Failsafe
import Foundation
import Routing
import SimnetTesting
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A Python virtual environment with eth-tester, py-evm and web3.py (Tests/tools/requirements-evm.txt),
/// made on first use under `.build/`.
enum EVMEnvironment {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let venv = repository.appendingPathComponent(".build/evm-venv")
    static let python = venv.appendingPathComponent("bin/python").path
    static let tools = repository.appendingPathComponent("Tests/tools")
    static let requirements = tools.appendingPathComponent("requirements-evm.txt")
    /// A copy of the requirements the venv was last installed from.
    static let installed = venv.appendingPathComponent("installed-requirements-evm.txt")

    /// With `BULWARK_REQUIRE_PYTHON=1` a missing environment fails the test instead of skipping it.
    static var required: Bool { ProcessInfo.processInfo.environment["BULWARK_REQUIRE_PYTHON"] == "1" }

    /// Whether the test should run: true when the venv is usable (installing it when missing or
    /// when the pins changed); otherwise prints why and returns false, or true when Python is required.
    static func prepare() async -> Bool {
        let wanted = (try? Data(contentsOf: requirements)) ?? Data()
        if (try? Data(contentsOf: installed)) == wanted,
           (try? await run(python, ["-c", "import eth_tester, eth, trie, web3"]))?.status == 0 {
            return true
        }
        func unavailable(_ reason: String) -> Bool {
            print("EVM interop test \(required ? "cannot run" : "skipped"): \(reason)")
            return required
        }
        do {
            if !FileManager.default.fileExists(atPath: python) {
                let created = try await run("/usr/bin/env", ["python3", "-m", "venv", venv.path])
                guard created.status == 0 else { return unavailable("cannot create a Python venv: \(created.output.suffix(500))") }
            }
            let installing = try await run(python, ["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r", requirements.path])
            guard installing.status == 0 else {
                return unavailable("PyPI is unreachable or the packages failed to install: \(installing.output.suffix(800))")
            }
            try wanted.write(to: installed)
            return true
        } catch {
            return unavailable("\(error)")
        }
    }

    /// Runs a program to its end without blocking a Swift concurrency thread; its exit status and combined output.
    static func run(_ executable: String, _ arguments: [String]) async throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardInput = FileHandle.nullDevice
        let output = OutputCollector()
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        pipe.fileHandleForReading.readabilityHandler = { handle in output.append(handle.availableData) }
        return try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { process in
                pipe.fileHandleForReading.readabilityHandler = nil
                output.append(pipe.fileHandleForReading.readDataToEndOfFile())
                continuation.resume(returning: (process.terminationStatus, output.text))
            }
            do { try process.run() } catch { continuation.resume(throwing: error) }
        }
    }
}

/// Output of a child process, gathered as it arrives.
final class OutputCollector: Sendable {
    private let data = Mutex(Data())
    func append(_ chunk: Data) { data.withLock { $0.append(chunk) } }
    var text: String { String(decoding: data.withLock { $0 }, as: UTF8.self) }
}

/// `Tests/tools/evm_node.py`: one eth-tester/py-evm chain served through several faces,
/// each of which can be killed and started again through the node's control port.
extension EVMNode {
    /// The node's faces as upstreams in three failure domains, polled every `headPollInterval`.
    func routing(headPollInterval: Duration = .milliseconds(100)) -> RouterConfiguration {
        let domains = [
            FailureDomain(provider: "alchemy", cloud: "aws", region: "us-east-1"),
            FailureDomain(provider: "quicknode", cloud: "gcp", region: "europe-west1"),
            FailureDomain(provider: "ankr", cloud: "azure", region: "eastus"),
        ]
        var routing = RouterConfiguration(chainName: "eth", chainId: chainId, upstreams: faces.enumerated().map { index, url in
            UpstreamSpec(id: "evm-\(index)", url: url, domain: domains[index % domains.count])
        })
        routing.headPollInterval = headPollInterval
        routing.attemptTimeout = .seconds(2)
        return routing
    }
}

final class EVMNode: Sendable {
    let process: Process
    let stdin: Pipe
    let output: OutputCollector
    let chainId: UInt64
    let faces: [String]
    let control: String
    /// The first funded account's private key.
    let key: String

    static func start(faces count: Int) async throws -> EVMNode {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: EVMEnvironment.python)
        process.arguments = [EVMEnvironment.tools.appendingPathComponent("evm_node.py").path, "--faces", "\(count)", "--watch-stdin"]
        let stdin = Pipe()
        let stdout = Pipe()
        let output = OutputCollector()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stdout
        stdout.fileHandleForReading.readabilityHandler = { handle in output.append(handle.availableData) }
        try process.run()
        let deadline = ContinuousClock.now + .seconds(60)
        while !output.text.split(separator: "\n").contains("ready") {
            guard process.isRunning, ContinuousClock.now < deadline else {
                process.terminate()
                throw NodeError(message: "evm_node.py did not become ready:\n\(output.text)")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        let lines = output.text.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        func field(_ name: String) -> [[String]] { lines.filter { $0.first == name } }
        guard let chain = field("chain").first?.last.flatMap({ UInt64($0) }),
              let control = field("control").first?.last,
              let key = field("account").first?.last else {
            process.terminate()
            throw NodeError(message: "unexpected evm_node.py output:\n\(output.text)")
        }
        return EVMNode(process: process, stdin: stdin, output: output, chainId: chain,
                       faces: field("face").compactMap(\.last), control: control, key: key)
    }

    private init(process: Process, stdin: Pipe, output: OutputCollector, chainId: UInt64, faces: [String], control: String, key: String) {
        self.process = process
        self.stdin = stdin
        self.output = output
        self.chainId = chainId
        self.faces = faces
        self.control = control
        self.key = key
    }

    func kill(face: Int) async throws { try await command("kill", face) }
    func start(face: Int) async throws { try await command("start", face) }

    private func command(_ action: String, _ face: Int) async throws {
        let response = try await HTTPTestClient.request(.POST, "\(control)/\(action)?face=\(face)", timeout: .seconds(5))
        guard response.status.code == 200 else { throw NodeError(message: "\(action) face \(face): \(response.text)") }
    }

    /// Ends the node and waits (bounded) until it is gone.
    func stop() async {
        if process.isRunning { process.terminate() }
        try? stdin.fileHandleForWriting.close()
        for _ in 0..<100 where process.isRunning { try? await Task.sleep(for: .milliseconds(20)) }
        if process.isRunning { sendKill(process.processIdentifier) }
    }
}

/// SIGKILL, for a node that did not end on SIGTERM.
private func sendKill(_ pid: Int32) {
    #if canImport(Glibc)
    _ = Glibc.kill(pid, SIGKILL)
    #elseif canImport(Darwin)
    _ = Darwin.kill(pid, SIGKILL)
    #endif
}

struct NodeError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

/// Kills and restarts the node's faces in turn, one at a time, every `period`, until cancelled.
func churn(_ node: EVMNode, period: Duration, rounds: Int) async -> (kills: Int, restarts: Int, errors: [String]) {
    var kills = 0, restarts = 0
    var errors: [String] = []
    for round in 0..<rounds {
        let face = round % node.faces.count
        do {
            try await node.kill(face: face)
            kills += 1
        } catch { errors.append("\(error)") }
        try? await Task.sleep(for: period)
        // Always bring the face back, even when cancelled while it was down.
        do {
            try await node.start(face: face)
            restarts += 1
        } catch { errors.append("\(error)") }
        if Task.isCancelled { break }
        try? await Task.sleep(for: period)
        if Task.isCancelled { break }
    }
    return (kills, restarts, errors)
}

@Suite struct EVMInteropTests {
    /// web3.py deploys and calls a contract, sends transfers, reads receipts and logs and sends a batch
    /// through Bulwark in front of a real EVM (eth-tester/py-evm) served by three faces in three failure
    /// domains, while the faces are killed and restarted in turn; then eth_getProof answers through Bulwark
    /// verify with EthereumKit against the stateRoot of py-evm's own block.
    @Test(.enabled("needs eth-tester, py-evm and web3.py from PyPI; the reason is printed when they cannot be installed") {
        await EVMEnvironment.prepare()
    }, .timeLimit(.minutes(3)))
    func web3ThroughBulwarkToARealEVMWhileFacesRestart() async throws {
        let node = try await EVMNode.start(faces: 3)
        let router = try ChainRouter(configuration: node.routing())
        let gateway = Gateway(chains: [GatewayChain(name: "eth", router: router)])
        let port = Mutex<Int?>(nil)
        let server = gateway.server(host: "127.0.0.1", port: 0) { bound in port.withLock { $0 = bound } }
        let services = [Task { try? await router.run() }, Task { try? await server.run() }]
        defer { for task in services { task.cancel() } }
        for _ in 0..<500 where port.withLock({ $0 }) == nil { try await Task.sleep(for: .milliseconds(10)) }
        let bound = try #require(port.withLock { $0 }, "the gateway did not start")
        let url = "http://127.0.0.1:\(bound)/eth"
        await router.pollHeads()

        let transfers = 15
        do {
            // The client, through the gateway, while faces go down and come back one at a time.
            let chaos = Task { await churn(node, period: .milliseconds(500), rounds: 120) }
            let client = try await EVMEnvironment.run(EVMEnvironment.python, [
                EVMEnvironment.tools.appendingPathComponent("evm_client.py").path, url, node.key, "\(transfers)",
            ])
            chaos.cancel()
            let churned = await chaos.value
            print("EVM interop: faces killed \(churned.kills) times, restarted \(churned.restarts) times during the client run")
            let upstreams = router.status().upstreams
            print("EVM interop: upstream attempts as the gateway saw them: \(upstreams.map { "\($0.id) ok \($0.successes) failed \($0.failures)" })")
            #expect(churned.errors.isEmpty, "\(churned.errors)")
            // The kills were real: the gateway met refused or dropped connections, and hid them from web3.py.
            #expect(upstreams.reduce(0) { $0 + $1.failures } > 0)
            #expect(churned.kills >= 2, "the client finished before the faces were churned")
            #expect(churned.restarts == churned.kills)
            #expect(client.status == 0, "evm_client.py failed:\n\(client.output)")
            let line = try #require(client.output.split(separator: "\n").last, "no output from evm_client.py")
            let summary = try JSONValue.parse(Array(line.utf8))
            #expect(summary["chainId"] == .number(Double(node.chainId)))
            #expect(summary["callResult"] == .number(3))
            let estimate = try #require(summary["estimateGas"].flatMap { if case .number(let n) = $0 { n } else { nil } })
            #expect(estimate > 21000)
            #expect(summary["increments"] == .number(3))
            #expect(summary["transfers"] == .number(Double(transfers)))
            #expect(summary["receipts"] == .number(Double(4 + transfers)))
            #expect(summary["logs"] == .number(3))
            #expect(summary["logsByTopic"] == .number(3))
            #expect(summary["batch"] == .number(4))
            #expect(summary["transactions"]?.arrayValue?.count == 4 + transfers)

            // Proofs through the gateway, verified against py-evm's stateRoot of the block.
            let sender = try #require(summary["sender"]?.stringValue)
            let contract = try #require(summary["contract"]?.stringValue)
            guard case .number(let final)? = summary["finalBlock"], case .number(let deployed)? = summary["deployBlock"] else {
                Issue.record("no block numbers in \(line)")
                return
            }
            let block = JSONValue.quantity(UInt64(final))
            let blockJSON = try await HTTPTestClient.call(url, "eth_getBlockByNumber", [block, .bool(false)])
            let header = try BlockHeader(json: blockJSON)
            // The header py-evm serves hashes to its block hash: the stateRoot below is py-evm's own.
            #expect(header.hash.description == blockJSON["hash"]?.stringValue)

            let senderProof = try AccountProof(json: await HTTPTestClient.call(url, "eth_getProof", [.string(sender), .array([]), block]))
            let senderReport = try senderProof.verify(stateRoot: header.stateRoot)
            #expect(senderProof.nonce == [UInt8(4 + transfers)])
            #expect(!senderProof.balance.isEmpty)
            print("EVM interop: sender proof at block \(UInt64(final)): \(senderReport.checks.map(\.detail))")

            let contractProof = try AccountProof(json: await HTTPTestClient.call(url, "eth_getProof", [.string(contract), .array([.string("0x0")]), block]))
            let contractReport = try contractProof.verify(stateRoot: header.stateRoot)
            #expect(contractProof.storageProofs.map(\.value) == [[3]])
            let code = try await HTTPTestClient.call(url, "eth_getCode", [.string(contract), block])
            try contractProof.verify(code: Hex.decode(try #require(code.stringValue)))
            print("EVM interop: contract proof at block \(UInt64(final)): \(contractReport.checks.map(\.detail))")

            // An account that never existed: an exclusion proof.
            let absent = try AccountProof(json: await HTTPTestClient.call(url, "eth_getProof", [.string("0x" + String(repeating: "ab", count: 20)), .array([]), block]))
            #expect(try absent.verify(stateRoot: header.stateRoot).checks.first?.detail.contains("does not exist") == true)

            // The same proof does not verify against the state root of an earlier block.
            let earlier = try BlockHeader(json: await HTTPTestClient.call(url, "eth_getBlockByNumber", [.quantity(UInt64(deployed)), .bool(false)]))
            #expect(throws: VerificationError.self) { try contractProof.verify(stateRoot: earlier.stateRoot) }
        } catch {
            await node.stop()
            await router.shutdown()
            throw error
        }
        await node.stop()
        await router.shutdown()
        #expect(!node.process.isRunning)
    }
}
