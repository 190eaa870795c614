import EthereumKit
import Failsafe
import NIOCore
import Synchronization
import Upstreams

/// Calls of a client batch sent to one upstream as JSON-RPC batches (at most its `maxBatch`
/// calls each): one HTTP request instead of one per call, as a proxy forwarding the batch
/// whole would send. Each answer in the upstream's batch is read as a single call's answer
/// would be; a call whose answer is missing or is the upstream's fault, and every call of a
/// batch the upstream failed as a whole, is then forwarded on its own (`ForwardedCall`, with
/// its failover and retries), so batching never loses a call.
///
/// `@unchecked Sendable`: every mutable field is touched only on `loop`.
final class ForwardedBatch: @unchecked Sendable {
    private let router: ChainRouter
    private let calls: [RPCCall]
    private let deadline: MonotonicClock.Instant
    private let loop: any EventLoop
    private var outcomes: [CallOutcome?]
    private var remaining: Int
    private var completion: (([CallOutcome]) -> Void)?

    init(_ calls: [RPCCall], router: ChainRouter, deadline: MonotonicClock.Instant, loop: any EventLoop,
         completion: @escaping ([CallOutcome]) -> Void) {
        self.router = router
        self.calls = calls
        self.deadline = deadline
        self.loop = loop
        outcomes = Array(repeating: nil, count: calls.count)
        remaining = calls.count
        self.completion = completion
    }

    func start() {
        loop.runOnLoop { self.send() }
    }

    private func send() {
        let block = calls.compactMap { BlockTagPinning.requestedBlock(method: $0.method, params: $0.params) }.max()
        let budget = DeadlineBudget<MonotonicClock>(now: .now, total: deadline - .now)
        guard let upstream = router.plan(block: block).first(where: { router.upstreams[$0].spec.maxBatch > 1 }),
              let timeout = budget.nextAttemptTimeout(now: .now, upstreamTimeout: router.configuration.attemptTimeout) else {
            return forwardAlone(Array(calls.indices))
        }
        let size = router.upstreams[upstream].spec.maxBatch
        for chunkStart in stride(from: 0, to: calls.count, by: size) {
            let chunk = Array(chunkStart..<min(chunkStart + size, calls.count))
            guard chunk.count > 1, case .admitted = router.admit(upstream) else {
                forwardAlone(chunk)
                continue
            }
            // Ids 1...n within the upstream's batch: its answers are matched back by them.
            var body = ByteBufferAllocator().buffer(capacity: 2 + chunk.count * 160)
            body.writeStaticString("[")
            for (offset, position) in chunk.enumerated() {
                if offset > 0 { body.writeStaticString(",") }
                calls[position].writeUpstreamBody(id: offset + 1, into: &body)
            }
            body.writeStaticString("]")
            let start = MonotonicClock.now
            router.upstreams[upstream].transport.send(body, timeout: timeout) { result in
                let latency = MonotonicClock.now - start
                self.loop.runOnLoop { self.answered(chunk, by: upstream, result, latency: latency, timeout: timeout) }
            }
        }
    }

    private func answered(_ chunk: [Int], by upstream: Int, _ result: Result<UpstreamHTTPResponse, UpstreamTransportError>, latency: Duration,
                          timeout: Duration) {
        let response: UpstreamHTTPResponse
        switch result {
        case .failure(let error):
            router.record(upstream, failure: ChainRouter.failure(from: error, timeout: timeout))
            return forwardAlone(chunk)
        case .success(let success):
            response = success
        }
        guard response.status == 200, let answers = Self.answersByID(response.body) else {
            // Not a batch answer: the upstream's failure counts as it would for a single call; a
            // JSON-RPC answer ("batches are not supported") is no fault of its health — a
            // `maxBatch` it does not honour must not open its circuit for single calls too.
            if case .upstreamFailure(let failure) = ReplyClassifier.classify(response) {
                router.record(upstream, failure: failure)
            } else {
                router.logger.warning("upstream answered a batch with a single answer: is its maxBatch right?", metadata: [
                    "upstream.id": "\(router.upstreams[upstream].spec.id)",
                ])
            }
            return forwardAlone(chunk)
        }
        router.record(upstream, success: latency)
        let id = router.upstreams[upstream].spec.id
        var alone: [Int] = []
        for (offset, position) in chunk.enumerated() {
            guard let answer = answers[offset + 1] else {
                alone.append(position)
                continue
            }
            switch ReplyClassifier.classify(UpstreamHTTPResponse(status: 200, body: answer), method: calls[position].method) {
            case .answered(let member, let value, let code, _) where code != -32601:
                settle(position, .answered(member: member, value: value, upstream: id))
            default:
                // The upstream's fault for this call (or a method it lacks): the call is forwarded on its own.
                alone.append(position)
            }
        }
        forwardAlone(alone)
    }

    /// A batch answer's elements by their (integer) id; nil when it is not a JSON array.
    static func answersByID(_ body: ByteBuffer) -> [Int: ByteBuffer]? {
        let view = body.readableBytesView
        guard let spans = try? JSONValue.elementSpans(view) else { return nil }
        var answers: [Int: ByteBuffer] = [:]
        answers.reserveCapacity(spans.count)
        for span in spans {
            let element = body.getSlice(at: body.readerIndex + span.lowerBound, length: span.count)!
            guard let members = try? JSONValue.memberSpans(element.readableBytesView),
                  let id = members.first(where: { $0.key == "id" }),
                  let number = Int(String(decoding: element.readableBytesView[(element.readerIndex + id.span.lowerBound)..<(element.readerIndex + id.span.upperBound)], as: UTF8.self))
            else { continue }
            answers[number] = element
        }
        return answers
    }

    private func forwardAlone(_ positions: [Int]) {
        for position in positions {
            router.forward(calls[position], deadline: deadline) { outcome in
                self.loop.runOnLoop { self.settle(position, outcome) }
            }
        }
    }

    private func settle(_ position: Int, _ outcome: CallOutcome) {
        if case .some = outcomes[position] { return }
        outcomes[position] = outcome
        remaining -= 1
        guard remaining == 0, let completion else { return }
        self.completion = nil
        completion(outcomes.map { $0! })
    }
}

/// The answers of a batch's calls as they come in, from any thread; the batch's answer once all are in.
final class BatchJoin: Sendable {
    private struct State {
        var outcomes: [CallOutcome?]
        var remaining: Int
    }

    private let state: Mutex<State>
    private let then: @Sendable ([CallOutcome]) -> Void

    init(count: Int, then: @escaping @Sendable ([CallOutcome]) -> Void) {
        state = Mutex(State(outcomes: Array(repeating: nil, count: count), remaining: count))
        self.then = then
    }

    func settle(_ position: Int, _ outcome: CallOutcome) {
        let all: [CallOutcome]? = state.withLock { state in
            guard case .none = state.outcomes[position] else { return nil }
            state.outcomes[position] = outcome
            state.remaining -= 1
            return state.remaining == 0 ? state.outcomes.map { $0! } : nil
        }
        if let all { then(all) }
    }
}
