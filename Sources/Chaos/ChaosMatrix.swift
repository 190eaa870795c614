import BulwarkServer
import EthereumKit
import Failsafe
import Logging
import NIOCore
import Routing
import Simnet
import Synchronization
import Upstreams

/// The kinds of call a client makes, each checked against the chain's ground truth.
public enum CallClass: String, CaseIterable, Sendable {
    /// `eth_blockNumber`, `eth_getBlockByNumber("latest")`.
    case head
    /// Balances and blocks a few blocks back.
    case historic
    /// `eth_getProof`, verified against the true state root.
    case proofs
    /// Batches of a balance and a block.
    case batches
    /// Signed transfers through `eth_sendRawTransaction`, each later found in a block.
    case sends
}

/// How much of the network a fault hits.
public enum BlastRadius: String, CaseIterable, Sendable {
    case oneFace = "one face"
    case oneDomain = "one region (2 faces)"
    case allButOneDomain = "all but one domain"

    /// Face ids of the default simnet that get the fault.
    var faces: [String] {
        switch self {
        case .oneFace: ["alchemy-use1"]
        case .oneDomain: ["alchemy-use1", "infura-use1"]
        case .allButOneDomain: ["alchemy-use1", "infura-use1", "quicknode-euw1", "ankr-eastus"]
        }
    }
}

/// One cell of the matrix.
public struct ChaosCell: Sendable {
    public var fault: Fault
    public var callClass: CallClass
    public var radius: BlastRadius
    public var calls = 0
    public var failures = 0
    /// Answers that differ from the chain's ground truth (a lie passed on, a wrong block).
    public var wrong = 0
    /// Signed transactions that never made it into a block.
    public var lostTransactions = 0
    public var latencies: [Duration] = []
    public var examples: [String] = []

    func quantile(_ q: Double) -> Duration {
        let sorted = latencies.sorted()
        return sorted.isEmpty ? .zero : sorted[min(sorted.count - 1, Int(Double(sorted.count) * q))]
    }
}

/// Runs cells: each a fresh default simnet (5 faces, 4 domains) with a gateway in front,
/// the fault set on the cell's faces, then `calls` client calls of the cell's class.
public enum ChaosMatrix {
    public static let faults: [Fault] = [
        .down, .stall, .slow(milliseconds: 1500), .lag(blocks: 10), .lie, .ratelimit, .garbage, .wrongchain,
        .flaky(probability: 0.5), .cutoff, .reset,
    ]

    public static func run(
        faults: [Fault] = faults, classes: [CallClass] = CallClass.allCases, radii: [BlastRadius] = BlastRadius.allCases,
        calls: Int, progress: @Sendable (ChaosCell) -> Void = { _ in }
    ) async throws -> [ChaosCell] {
        var cells: [ChaosCell] = []
        for fault in faults {
            for radius in radii {
                for callClass in classes {
                    let cell = try await runCell(fault: fault, callClass: callClass, radius: radius, calls: calls)
                    progress(cell)
                    cells.append(cell)
                }
            }
        }
        return cells
    }

    static func runCell(fault: Fault, callClass: CallClass, radius: BlastRadius, calls: Int) async throws -> ChaosCell {
        var quiet = Logger(label: "bulwark.chaos")
        quiet.logLevel = .critical
        var configuration = SimnetConfiguration()
        configuration.blockTime = .milliseconds(250)
        let simnet = Simnet(configuration: configuration, logger: quiet)
        try await simnet.start()
        simnet.mine(20)
        var routing = RouterConfiguration(chainName: "eth", chainId: simnet.chain.chainId, upstreams: simnet.faces.map { face in
            UpstreamSpec(id: face.id, url: face.url, domain: FailureDomain(provider: face.provider, cloud: face.cloud, region: face.region))
        })
        routing.headPollInterval = .milliseconds(100)
        routing.crossCheckedMethods = RouterConfiguration.accountReads
        let router = try ChainRouter(configuration: routing, logger: quiet)
        let gateway = Gateway(chains: [GatewayChain(name: "eth", router: router)], logger: quiet)
        let bound = Mutex<Int?>(nil)
        let server = gateway.server(host: "127.0.0.1", port: 0) { port in bound.withLock { $0 = port } }
        let tasks = [
            Task { try? await simnet.run() },
            Task { try? await router.run() },
            Task { try? await server.run() },
        ]
        defer { for task in tasks { task.cancel() } }
        while bound.withLock({ $0 }) == nil { try await Task.sleep(for: .milliseconds(5)) }
        await router.pollHeads()
        for id in radius.faces { _ = try await simnet.setFault(fault, matching: ["id": id]) }
        try await Task.sleep(for: .milliseconds(300))

        let client = try ChaosClient(url: "http://127.0.0.1:\(bound.withLock { $0! })/eth", simnet: simnet)
        var cell = ChaosCell(fault: fault, callClass: callClass, radius: radius)
        await client.run(callClass, calls: calls, into: &cell)
        await simnet.stop()
        await router.shutdown()
        return cell
    }

    /// The matrix as Markdown: one table per call class, a row per fault, a column per blast radius.
    public static func markdown(_ cells: [ChaosCell], header: String) -> String {
        var out = header + "\n"
        for callClass in CallClass.allCases where cells.contains(where: { $0.callClass == callClass }) {
            out += "\n### \(callClass.rawValue)\n\n| fault | " + BlastRadius.allCases.map(\.rawValue).joined(separator: " | ") + " |\n"
            out += "|---|" + BlastRadius.allCases.map { _ in "---" }.joined(separator: "|") + "|\n"
            for fault in faults where cells.contains(where: { $0.fault == fault && $0.callClass == callClass }) {
                out += "| `\(fault)` | "
                out += BlastRadius.allCases.map { radius in
                    guard let cell = cells.first(where: { $0.fault == fault && $0.callClass == callClass && $0.radius == radius }) else { return "—" }
                    let lost = cell.callClass == .sends ? ", \(cell.lostTransactions) lost" : ""
                    return "\(cell.calls) calls, **\(cell.failures) failed, \(cell.wrong) wrong\(lost)**, p50 \(ms(cell.quantile(0.5))) p99 \(ms(cell.quantile(0.99)))"
                }.joined(separator: " | ") + " |\n"
            }
        }
        let notes = cells.filter { !$0.examples.isEmpty }.prefix(12)
        if !notes.isEmpty {
            out += "\n### What the non-zero cells saw\n\n"
            for cell in notes { out += "- `\(cell.fault)` × \(cell.callClass.rawValue) × \(cell.radius.rawValue): \(cell.examples.prefix(2).joined(separator: "; "))\n" }
        }
        return out
    }

    static func ms(_ duration: Duration) -> String {
        let value = Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
        return value < 10 ? "\(Int((value * 10).rounded()) / 10).\(Int((value * 10).rounded()) % 10) ms" : "\(Int(value.rounded())) ms"
    }
}

/// The client of one cell: calls through the gateway, checked against the simnet's ground truth.
struct ChaosClient {
    let transport: UpstreamTransport
    let simnet: Simnet

    init(url: String, simnet: Simnet) throws {
        transport = try UpstreamTransport(url: url)
        self.simnet = simnet
    }

    func run(_ callClass: CallClass, calls: Int, into cell: inout ChaosCell) async {
        var sent: [Bytes32] = []
        var nonce: UInt64 = 0
        for i in 0..<calls {
            let accounts = simnet.chain.accounts
            let account = accounts[2 + i % (accounts.count - 2)].address
            let head = simnet.chain.headNumber
            let back = head >= 5 ? head - 3 : 0
            let start = ContinuousClock.now
            cell.calls += 1
            switch callClass {
            case .head:
                if i % 2 == 0 {
                    guard let result = await call(#"{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"}"#, &cell), let n = Self.number(result) else { continue }
                    if n > simnet.chain.headNumber { wrong(&cell, "head \(n) is beyond the chain's") }
                } else {
                    guard let block = await call(#"{"jsonrpc":"2.0","id":1,"method":"eth_getBlockByNumber","params":["latest",false]}"#, &cell) else { continue }
                    checkBlock(block, &cell)
                }
            case .historic:
                if i % 2 == 0 {
                    guard let result = await call(#"{"jsonrpc":"2.0","id":1,"method":"eth_getBalance","params":["\#(Hex.encode(account))","\#(JSONValue.quantity(back).stringValue!)"]}"#, &cell) else { continue }
                    checkBalance(result, account: account, block: back, &cell)
                } else {
                    guard let block = await call(#"{"jsonrpc":"2.0","id":1,"method":"eth_getBlockByNumber","params":["\#(JSONValue.quantity(back).stringValue!)",true]}"#, &cell) else { continue }
                    checkBlock(block, &cell)
                }
            case .proofs:
                guard let proof = await call(#"{"jsonrpc":"2.0","id":1,"method":"eth_getProof","params":["\#(Hex.encode(account))",[],"\#(JSONValue.quantity(back).stringValue!)"]}"#, &cell) else { continue }
                guard let root = simnet.chain.stateRoot(back), (try? AccountProof(json: proof).verify(stateRoot: root)) != nil else {
                    wrong(&cell, "a proof that does not verify against the true state root")
                    continue
                }
            case .batches:
                let body = #"[{"jsonrpc":"2.0","id":1,"method":"eth_getBalance","params":["\#(Hex.encode(account))","\#(JSONValue.quantity(back).stringValue!)"]},{"jsonrpc":"2.0","id":2,"method":"eth_getBlockByNumber","params":["\#(JSONValue.quantity(back).stringValue!)",false]}]"#
                guard let answers = await callBatch(body, &cell), answers.count == 2 else { continue }
                checkBalance(answers[0], account: account, block: back, &cell)
                checkBlock(answers[1], &cell)
            case .sends:
                guard let tx = try? SignedTransaction.signed(
                    kind: .dynamicFee, chainId: simnet.chain.chainId, nonce: nonce, maxPriorityFeePerGas: [0x3B, 0x9A, 0xCA, 0x00],
                    maxFeePerGas: [0x77, 0x35, 0x94, 0x00], gas: 21_000, to: accounts[1].address, value: [1], privateKey: accounts[0].privateKey
                ) else { continue }
                guard let result = await call(#"{"jsonrpc":"2.0","id":1,"method":"eth_sendRawTransaction","params":["\#(Hex.encode(tx.raw))"]}"#, &cell) else { continue }
                if result != .string(tx.hash.description) { wrong(&cell, "answered \(result.serialized()) for \(tx.hash)") }
                sent.append(tx.hash)
                nonce += 1
            }
            cell.latencies.append(ContinuousClock.now - start)
        }
        if callClass == .sends {
            // Every accepted transaction must end up in a block.
            let deadline = ContinuousClock.now + .seconds(5)
            while ContinuousClock.now < deadline && sent.contains(where: { simnet.chain.blockNumber(ofTransaction: $0) == nil }) {
                try? await Task.sleep(for: .milliseconds(100))
            }
            cell.lostTransactions = sent.filter { simnet.chain.blockNumber(ofTransaction: $0) == nil }.count
        }
    }

    private func call(_ body: String, _ cell: inout ChaosCell) async -> JSONValue? {
        guard let json = await post(body, &cell) else { return nil }
        guard let result = json["result"] else {
            failed(&cell, "error \(json["error"]?.serialized().prefix(160) ?? "")")
            return nil
        }
        return result
    }

    private func callBatch(_ body: String, _ cell: inout ChaosCell) async -> [JSONValue]? {
        guard let json = await post(body, &cell), let answers = json.arrayValue else { return nil }
        let results = answers.sorted { ($0["id"].flatMap { if case .number(let n) = $0 { n } else { nil } } ?? 0) < ($1["id"].flatMap { if case .number(let n) = $0 { n } else { nil } } ?? 0) }
        guard results.allSatisfy({ $0["result"] != nil }) else {
            failed(&cell, "a batch part failed")
            return nil
        }
        return results.compactMap { $0["result"] }
    }

    private func post(_ body: String, _ cell: inout ChaosCell) async -> JSONValue? {
        do {
            let response = try await transport.post(ByteBuffer(string: body), timeout: .seconds(15))
            guard let json = try? JSONValue.parse(Array(response.body.readableBytesView)) else {
                failed(&cell, "HTTP \(response.status), not JSON")
                return nil
            }
            return json
        } catch {
            failed(&cell, "\(error)")
            return nil
        }
    }

    private func checkBlock(_ block: JSONValue, _ cell: inout ChaosCell) {
        guard let n = block["number"].flatMap(Self.number), let hash = block["hash"]?.stringValue else {
            wrong(&cell, "a block without number or hash")
            return
        }
        if simnet.chain.blockHash(n)?.description != hash { wrong(&cell, "block \(n) has hash \(hash), not the chain's") }
    }

    private func checkBalance(_ result: JSONValue, account: [UInt8], block: UInt64, _ cell: inout ChaosCell) {
        guard let truth = simnet.chain.balance(of: account, atBlock: block) else { return }
        if result != JSONValue.quantity(bigEndian: truth) { wrong(&cell, "balance \(result.serialized()) at block \(block), truth \(JSONValue.quantity(bigEndian: truth).serialized())") }
    }

    private func failed(_ cell: inout ChaosCell, _ why: String) {
        cell.failures += 1
        if cell.examples.count < 3 { cell.examples.append("failed: \(why)") }
    }

    private func wrong(_ cell: inout ChaosCell, _ why: String) {
        cell.wrong += 1
        if cell.examples.count < 3 { cell.examples.append("wrong: \(why)") }
    }

    static func number(_ value: JSONValue) -> UInt64? {
        value.stringValue.flatMap { UInt64($0.dropFirst(2), radix: 16) }
    }
}
