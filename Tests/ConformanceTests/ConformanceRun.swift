import BulwarkServer
import EthereumKit
import Failsafe
import Routing
import SimnetTesting
import Synchronization

/// Three replay faces in three failure domains (a aws/us-east-1, b gcp/europe-west1,
/// c azure/eastus) and a gateway in front of them, in-process on ephemeral ports.
final class ReplayGateway: Sendable {
    let faces: [ReplayUpstream]
    let router: ChainRouter
    /// `http://127.0.0.1:PORT/eth`.
    let url: String
    private let tasks: Mutex<[Task<Void, Never>]>

    /// Starts the faces, lets `prepare` set faults before the gateway first sees them, then
    /// starts the gateway and waits until its consensus head is the recorded head.
    static func start(book: ReplayBook, prepare: ([ReplayUpstream]) async throws -> Void = { _ in }) async throws -> ReplayGateway {
        try await start(books: [book, book, book], prepare: prepare)
    }

    /// As `start(book:prepare:)`, with each face (a, b, c) replaying its own book.
    /// `verification` turns verified mode on (SPEC section 5).
    static func start(books: [ReplayBook], headPollInterval: Duration = .milliseconds(100),
                      verification: RouterConfiguration.Verification? = nil,
                      prepare: ([ReplayUpstream]) async throws -> Void = { _ in }) async throws -> ReplayGateway {
        precondition(books.count == 3, "one book per face")
        let faces = [
            ReplayUpstream(id: "a", provider: "a", cloud: "aws", region: "us-east-1", book: books[0]),
            ReplayUpstream(id: "b", provider: "b", cloud: "gcp", region: "europe-west1", book: books[1]),
            ReplayUpstream(id: "c", provider: "c", cloud: "azure", region: "eastus", book: books[2]),
        ]
        for face in faces { try await face.start() }
        try await prepare(faces)
        var routing = RouterConfiguration(chainName: "eth", chainId: Recordings.chainId, upstreams: faces.map { face in
            UpstreamSpec(id: face.id, url: face.url, domain: FailureDomain(provider: face.domain.provider, cloud: face.domain.cloud, region: face.domain.region))
        })
        routing.headPollInterval = headPollInterval
        routing.attemptTimeout = .seconds(2)
        routing.verification = verification
        let router = try ChainRouter(configuration: routing)
        let gateway = Gateway(chains: [GatewayChain(name: "eth", router: router)])
        let port = Mutex<Int?>(nil)
        let server = gateway.server(host: "127.0.0.1", port: 0) { bound in port.withLock { $0 = bound } }
        let tasks: [Task<Void, Never>] = [
            Task { try? await router.run() },
            Task { try? await server.run() },
        ]
        let started = ReplayGateway(faces: faces, router: router, url: "", tasks: tasks)
        // Start-up only (the first head polls): generous, since a full test run in parallel on two
        // busy cores has taken more than 10 s here.
        let deadline = ContinuousClock.now + .seconds(30)
        while port.withLock({ $0 }) == nil || router.consensusHead != Recordings.head {
            guard ContinuousClock.now < deadline else {
                await started.stop()
                throw RecordingError("the gateway did not reach the recorded head \(Recordings.head) (consensus head: \(String(describing: router.consensusHead)))")
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        return ReplayGateway(faces: faces, router: router, url: "http://127.0.0.1:\(port.withLock { $0! })/eth", tasks: tasks)
    }

    private init(faces: [ReplayUpstream], router: ChainRouter, url: String, tasks: [Task<Void, Never>]) {
        self.faces = faces
        self.router = router
        self.url = url
        self.tasks = Mutex(tasks)
    }

    func stop() async {
        for task in tasks.withLock({ $0 }) { task.cancel() }
        for face in faces { await face.stop() }
        await router.shutdown()
    }
}

/// What one run over every recording found.
struct ConformanceReport: Sendable {
    let scenario: Scenario
    var compared = 0
    /// Answers equal to geth's (those the gateway answers itself included).
    var equal = 0
    /// Recordings each listed change covered, by change name (equal ones included).
    var covered: [String: [String]] = [:]
    /// Recordings excluded from equality, by change name, each with its own check passed.
    var deliberate: [String: [String]] = [:]
    var failures: [String] = []
    var unmatched: [String] = []
    var served: [String: Int] = [:]
    var elapsed: Duration = .zero

    var summary: String {
        let excluded = deliberate.values.reduce(0) { $0 + $1.count }
        let faces = served.keys.sorted().map { "\($0)=\(served[$0]!)" }.joined(separator: " ")
        return "conformance [\(scenario.rawValue)]: \(compared) recordings compared, \(equal) equal to geth's answer, "
            + "\(excluded) differ on purpose (listed), \(failures.count) failures; replay answers by face (head polls included): \(faces); "
            + "\(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000) ms"
    }
}

enum ConformanceRun {
    /// Sends every recorded request, with its recorded id, to the gateway's `/eth` route, one at
    /// a time, and judges each answer against the recording.
    static func run(_ scenario: Scenario) async throws -> ConformanceReport {
        let exchanges = Recordings.all
        let book = try ReplayBook(exchanges, head: Recordings.head)
        let gateway = try await ReplayGateway.start(book: book) { faces in
            if scenario == .garbage { try await faces[0].setFault(.garbage) }
        }
        var report = ConformanceReport(scenario: scenario)
        let start = ContinuousClock.now
        for (index, exchange) in exchanges.enumerated() {
            if scenario == .killed && index == exchanges.count / 3 {
                do { try await gateway.faces[0].setFault(.killed) } catch { report.failures.append("killing face a: \(error)") }
            }
            report.compared += 1
            let answer: JSONValue
            do {
                let response = try await HTTPTestClient.request(.POST, gateway.url, body: exchange.requestText, timeout: .seconds(15))
                answer = try JSONValue.parse(response.body)
            } catch {
                report.failures.append("\(exchange.name): no JSON answer: \(error)")
                continue
            }
            let change = DeliberateChange.covering(exchange)
            if let change { report.covered[change.name, default: []].append(exchange.name) }
            if let change, change.expectation != .equal {
                if let problem = change.expectation.problem(with: answer, for: exchange) {
                    report.failures.append("\(exchange.name) (listed as \(change.name)): \(problem)")
                } else {
                    report.deliberate[change.name, default: []].append(exchange.name)
                }
            } else if let difference = Comparison.difference(answer, from: exchange) {
                report.failures.append("\(exchange.name): \(difference)")
            } else {
                report.equal += 1
            }
        }
        report.elapsed = ContinuousClock.now - start
        for face in gateway.faces {
            report.served[face.id] = face.served
            report.unmatched += face.unmatched.map { "face \(face.id): \($0.prefix(300))" }
        }
        await gateway.stop()
        return report
    }
}

/// How an answer is judged equal to a recording, ids aside (the echoed id is checked apart).
enum Comparison {
    /// Nil when equal: the recorded `result` as a JSON value, or the recorded error's `code`,
    /// `message` and (when recorded) `data`.
    static func difference(_ answer: JSONValue, from exchange: RecordedExchange) -> String? {
        guard answer["id"] == exchange.id else {
            return "id \(answer["id"]?.serialized() ?? "missing") instead of \(exchange.id?.serialized() ?? "missing")"
        }
        if let expected = exchange.response["result"] {
            guard let result = answer["result"] else { return "expected a result, got \(answer.serialized().prefix(400))" }
            return result == expected ? nil : "result differs: \(result.serialized().prefix(400)) instead of \(expected.serialized().prefix(400))"
        }
        guard let expected = exchange.response["error"] else { return "the recording has neither result nor error" }
        guard let error = answer["error"] else { return "expected error \(expected.serialized()), got \(answer.serialized().prefix(400))" }
        for member in ["code", "message"] where error[member] != expected[member] {
            return "error \(member) \(error[member]?.serialized() ?? "missing") instead of \(expected[member]?.serialized() ?? "missing")"
        }
        if let data = expected["data"], error["data"] != data {
            return "error data \(error["data"]?.serialized() ?? "missing") instead of \(data.serialized())"
        }
        return nil
    }
}

/// An answer Bulwark changes on purpose (or, for a known bug, gets wrong), the reason, and
/// how the changed answer is checked instead of equality.
struct DeliberateChange: Sendable {
    enum Scope: Sendable, Equatable {
        case method(String)
        /// One recording file, `<method>/<case>.io`.
        case file(String)
    }

    enum Expectation: Sendable, Equatable {
        /// Answered or altered by the gateway, yet equal to geth's answer here: compared as usual.
        case equal
        /// Every upstream's answer counts as an upstream fault: -32010, whose attempts name geth's error.
        case noUpstreamCouldAnswer
        /// The result is keccak256 of the raw bytes sent (and not geth's transaction hash).
        case keccakOfRawBytes

        /// Nil when `answer` is what this expectation says.
        func problem(with answer: JSONValue, for exchange: RecordedExchange) -> String? {
            guard answer["id"] == exchange.id else { return "id \(answer["id"]?.serialized() ?? "missing")" }
            switch self {
            case .equal:
                return Comparison.difference(answer, from: exchange)
            case .noUpstreamCouldAnswer:
                guard answer["error"]?["code"] == .number(-32010), let attempts = answer["error"]?["data"]?["attempts"]?.arrayValue else {
                    return "expected -32010 with attempts, got \(answer.serialized().prefix(400))"
                }
                let message = exchange.response["error"]?["message"]?.stringValue ?? "?"
                let outcomes = attempts.compactMap { $0["outcome"]?.stringValue }
                guard outcomes.contains(where: { $0.contains(message.prefix(60)) }) else {
                    return "no attempt names geth's error '\(message)': \(outcomes)"
                }
                return nil
            case .keccakOfRawBytes:
                guard let raw = exchange.request["params"]?.arrayValue?.first?.stringValue, let bytes = try? Hex.decode(raw) else {
                    return "the recording has no raw transaction"
                }
                let hash = Keccak256.hash(bytes).description
                guard answer["result"] == .string(hash) else { return "expected keccak256(raw) \(hash), got \(answer.serialized().prefix(400))" }
                guard answer["result"] != exchange.response["result"] else {
                    return "the answer now equals geth's transaction hash: the bug is fixed, list this recording as equal"
                }
                return nil
            }
        }
    }

    let name: String
    let scope: Scope
    let reason: String
    let expectation: Expectation

    /// The list; a file entry wins over its method's entry.
    static let all: [DeliberateChange] = [
        DeliberateChange(
            name: "eth_blockNumber", scope: .method("eth_blockNumber"),
            reason: "answered by the gateway from its consensus head (highest block two failure domains reached), not forwarded; equal here: every face reports the recorded head 0x36",
            expectation: .equal),
        DeliberateChange(
            name: "eth_chainId", scope: .method("eth_chainId"),
            reason: "answered by the gateway from its configured chain id, not forwarded; equal here: configured from the recording",
            expectation: .equal),
        DeliberateChange(
            name: "eth_sendRawTransaction", scope: .method("eth_sendRawTransaction"),
            reason: "broadcast to every available upstream, answered with the transaction hash once one accepted (a rejection passes through only when none accepted); the hash is computed by the gateway: keccak256(raw), or keccak256(0x03 || rlp(tx)) for a blob transaction in its network wrapper; equal for every recording",
            expectation: .equal),
    ]

    static func covering(_ exchange: RecordedExchange) -> DeliberateChange? {
        all.first { $0.scope == .file(exchange.file) } ?? all.first { $0.scope == .method(exchange.method) }
    }

    /// The list as printed with every run: each change, its reason, and the recordings it covered.
    static func describe(_ report: ConformanceReport) -> [String] {
        ["answers Bulwark changes on purpose [\(report.scenario.rawValue)]:"] + all.map { change in
            let covered = report.covered[change.name] ?? []
            let verdict = change.expectation == .equal ? "compared, equal" : "excluded from equality, checked as \(change.expectation)"
            return "  - \(change.name): \(change.reason) [\(covered.count) recording(s), \(verdict)]"
        }
    }
}
