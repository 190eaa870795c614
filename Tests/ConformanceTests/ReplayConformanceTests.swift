import EthereumKit
import Testing

/// Recorded-geth conformance: every request of every execution-apis recording goes through a
/// gateway in front of three replay upstreams (three failure domains) that answer like the
/// recorded geth, and the gateway's answer must be geth's answer — with every face healthy,
/// with face a killed after a third of the requests, and with face a answering garbage.
///
/// What is compared, ids aside (the gateway must echo the recorded id, which is checked too):
/// - a recorded `result`: the gateway's `result` equals it as a JSON value (object members in
///   any order, numbers by value);
/// - a recorded `error`: the gateway's `error` has the same `code` and `message`, and the same
///   `data` when the recording has one (revert data).
///
/// Bulwark changes some answers on purpose (`DeliberateChange.all`, printed with every run):
/// - `eth_blockNumber`: answered from the consensus head (the highest block two failure domains
///   reached), not forwarded. Equal here: every replay face reports the recorded head 0x36.
/// - `eth_chainId`: answered from the configured chain id, not forwarded. Equal here.
/// - `latest` and an omitted block parameter of the methods in `BlockTagPinning` are rewritten to
///   the consensus head's number before forwarding; the replay treats them as the same block, so
///   the answers are equal here (against a moving chain they would be the pinned block's).
/// - `eth_sendRawTransaction`: broadcast to every available upstream and answered with the
///   transaction hash as soon as one accepted (a rejection passes through only when no upstream
///   accepted). The gateway computes the hash: keccak256(raw), or for a blob transaction in its
///   network form (`0x03 || rlp([tx, (version,) blobs, commitments, proofs])`) keccak256(`0x03 ||
///   rlp(tx)`). Equal for every recording, `send-blob-tx.io` included.
/// - Errors that usually mean an upstream fault ("header not found", -32603): retried in other
///   domains; when every upstream gives one, the request is at fault and the error passes through
///   unchanged, blaming no upstream. So `eth_simulateV1` beyond the head and
///   `ethSimulate-overflow-nonce-validation` get geth's own errors (equal).
///
/// Two gateway bugs were found by this replay and fixed: the blob-transaction hash, and
/// client-caused "header not found" opening every circuit (`CircuitBreakerFindingTests`).
@Suite("Recorded-geth conformance", .serialized)
struct ReplayConformanceTests {
    /// The replay itself: one answer per request, no recording contradicts another, and every
    /// recorded request finds its own answer (also with the block tag pinned as the gateway does).
    @Test func replayBookAnswersEveryRecording() throws {
        let exchanges = Recordings.all
        let book = try ReplayBook(exchanges, head: Recordings.head)
        #expect(book.conflicts.isEmpty, "recordings that contradict each other: \(book.conflicts)")
        #expect(Recordings.head == 0x36)
        #expect(Recordings.chainId == 0xc72dd9d5e883e)
        for exchange in exchanges {
            let answer = book.answer(method: exchange.method, params: exchange.request["params"])
            #expect(answer != nil, "\(exchange.name) has no answer")
            let pinned = ReplayKey.gatewayPinned(method: exchange.method, params: exchange.request["params"], head: Recordings.head)
            #expect(book.answer(method: exchange.method, params: pinned)?.valueText == answer?.valueText, "\(exchange.name) pinned")
        }
        print("replay book: \(exchanges.count) recorded exchanges in \(Set(exchanges.map(\.file)).count) files, \(book.answers.count) distinct requests")
    }

    @Test(arguments: Scenario.allCases)
    func everyRecordingThroughTheGateway(_ scenario: Scenario) async throws {
        let report = try await ConformanceRun.run(scenario)
        print(report.summary)
        for line in DeliberateChange.describe(report) { print(line) }
        #expect(report.failures.isEmpty, "\(scenario): \(report.failures.count) answers differ from geth's:\n\(report.failures.joined(separator: "\n"))")
        #expect(report.unmatched.isEmpty, "\(scenario): requests the replay had no recording for: \(report.unmatched)")
        #expect(report.compared == Recordings.all.count)
        #expect(report.compared == report.equal + report.deliberate.values.reduce(0) { $0 + $1.count })
        // Every listed change was seen, so that the list cannot go stale silently.
        for change in DeliberateChange.all where change.expectation != .equal {
            #expect(report.deliberate[change.name]?.isEmpty == false, "\(change.name) listed but not seen")
        }
    }
}

/// The three ways the recordings are run; the answers must be the same each time.
enum Scenario: String, CaseIterable, Sendable, CustomTestStringConvertible {
    /// Every face answers.
    case healthy
    /// Face `a` (aws/us-east-1) stops listening after a third of the requests.
    case killed
    /// Face `a` answers HTTP 200 with a body that is not JSON, from the start.
    case garbage

    var testDescription: String { rawValue }
}
