import Failsafe
import NIOCore
import Upstreams

/// One call forwarded to the upstreams, driven by the event loop it lives on: attempts are
/// futures, hedges and pauses are the loop's scheduled tasks, and the answer is handed to a
/// callback — no Swift task, no continuation, nothing but this object per call.
///
/// Rounds of attempts go in the selector's order (each next upstream in another failure
/// domain), hedging when an attempt is slower than its upstream's recent p95; when every
/// upstream failed and time is left, a backoff and another round.
///
/// An upstream's JSON-RPC error that looks like its own fault ("header not found", -32603,
/// ...) is held back: if another upstream answers, it counts against the upstream; if every
/// upstream that answered said so, the request is what is wrong (a block beyond the head,
/// say), so that error goes to the client and no upstream is blamed — a client cannot open
/// every circuit with bad requests.
///
/// `@unchecked Sendable`: every mutable field is touched only on `loop` (callbacks from other
/// threads hop onto it).
final class ForwardedCall: @unchecked Sendable {
    private let router: ChainRouter
    private let call: RPCCall
    private let loop: any EventLoop
    private let budget: DeadlineBudget<MonotonicClock>
    private let only: Set<Int>?
    private let block: UInt64?
    private var completion: ((CallOutcome) -> Void)?

    private var record: ChainRouter.RoundRecord
    /// Rounds that ended without an answer (each followed by a backoff).
    private var failedRounds = 0
    private var tokenWaits = 0

    // The round under way.
    private var round = 0
    private var order: [Int] = []
    /// The admission of `order[0]` and its hedging latency, taken with the plan (one lock, not three).
    private var firstAdmission: ChainRouter.Admission?
    private var firstHedgingLatency: Duration?
    private var nextInOrder = 0
    private var startedInRound = 0
    private var startedBeforeRound = 0
    private var hedges = 0
    /// Attempts under way: (upstream, started at). A few at most: an array, not a dictionary.
    private var running: [(index: Int, start: MonotonicClock.Instant)] = []
    private var timers: [Scheduled<Void>] = []

    init(_ call: RPCCall, router: ChainRouter, deadline: MonotonicClock.Instant, only: Set<Int>?, loop: any EventLoop,
         completion: @escaping (CallOutcome) -> Void) {
        self.router = router
        self.call = call
        self.loop = loop
        let now = MonotonicClock.now
        budget = DeadlineBudget(now: now, total: deadline - now)
        self.only = only
        block = BlockTagPinning.requestedBlock(method: call.method, params: call.params)
        record = ChainRouter.RoundRecord(upstreamIds: router.upstreamIds)
        self.completion = completion
    }

    func start() {
        // Spelled out rather than `runOnLoop`: the closure for the other loop is then made only when needed.
        if loop.inEventLoop { startRound() } else { loop.execute { self.startRound() } }
    }

    private var maxRounds: Int { only == nil ? 3 : 1 }

    private func startRound() {
        round += 1
        if let only {
            order = router.plan(block: block).filter { only.contains($0) }
            firstAdmission = nil
        } else {
            let plan = router.planRound(block: block)
            order = plan.order
            firstAdmission = plan.firstAdmission
            firstHedgingLatency = plan.firstHedgingLatency
        }
        nextInOrder = 0
        startedInRound = 0
        hedges = 0
        startedBeforeRound = record.started
        record.rateLimitedWait = nil
        if order.isEmpty || !startNext() { roundFailed() }
    }

    /// Starts the next admissible upstream; false when none is left or time is up.
    private func startNext() -> Bool {
        let configuration = router.configuration
        while nextInOrder < order.count {
            let index = order[nextInOrder]
            let admission = nextInOrder == 0 ? firstAdmission : nil
            let planned = nextInOrder == 0 && firstAdmission != nil
            let now = MonotonicClock.now
            guard startedInRound < configuration.maxAttempts,
                  let timeout = budget.nextAttemptTimeout(now: now, upstreamTimeout: configuration.attemptTimeout) else {
                // An attempt admitted with the plan and not made gives its token (or probe slot) back.
                if case .admitted? = admission { router.abandoned(index, asTimeout: false, now: now) }
                return false
            }
            nextInOrder += 1
            switch admission ?? router.admit(index) {
            case .admitted: break
            case .rateLimited(let wait):
                record.rateLimitedWait = min(record.rateLimitedWait ?? wait, wait)
                continue
            case .refused: continue
            }
            startedInRound += 1
            record.started += 1
            running.append((index, now))
            let round = self.round
            router.upstreams[index].transport.send(call.upstreamBody(id: router.nextRequestId()), timeout: timeout) { result in
                let latency = MonotonicClock.now - now
                if self.loop.inEventLoop {
                    self.finished(index, result, latency: latency, timeout: timeout, round: round)
                } else {
                    self.loop.execute { self.finished(index, result, latency: latency, timeout: timeout, round: round) }
                }
            }
            if nextInOrder < order.count, let delay = configuration.hedging.hedgeDelay(
                for: .idempotent, upstreamP95: planned ? firstHedgingLatency : router.hedgingLatency(index),
                remaining: budget.remaining(now: now), hedgesStarted: hedges
            ) {
                timers.append(loop.scheduleTask(in: TimeAmount(delay)) { self.hedgeTimerFired(round: round) })
            }
            return true
        }
        return false
    }

    private func hedgeTimerFired(round: Int) {
        guard completion != nil, round == self.round, !running.isEmpty, startNext() else { return }
        hedges += 1
        router.metrics.hedges.increment()
    }

    private func finished(_ index: Int, _ result: Result<UpstreamHTTPResponse, UpstreamTransportError>, latency: Duration,
                          timeout: Duration, round: Int) {
        // A loser answering after the call was answered (or after its round was given up).
        guard completion != nil, round == self.round else { return }
        let reply: UpstreamReply = switch result {
        case .success(let response): ReplyClassifier.classify(response, method: call.method)
        case .failure(let error): .upstreamFailure(ChainRouter.failure(from: error, timeout: timeout))
        }
        running.removeAll { $0.index == index }
        let id = router.upstreams[index].spec.id
        switch reply {
        case .answered(let member, let value, let code, _):
            router.record(index, success: latency)
            if code == -32601 {
                // This upstream lacks the method; another may have it.
                record.methodNotFound = .answered(member: member, value: value, upstream: id)
                record.attempts.append(Attempt(upstream: id, outcome: "method not available"))
                if running.isEmpty && !startNext() { answer(record.methodNotFound!) }
                return
            }
            if !record.attempts.isEmpty { router.metrics.failovers.increment() }
            abandonLosers(winner: index)
            answer(.answered(member: member, value: value, upstream: id))
        case .upstreamFailure(let failure):
            if failure.kind == .rpcUpstreamError, let value = failure.errorValue {
                record.heldBack.append((index, value, failure))
            } else {
                router.record(index, failure: failure)
                record.transportFailures += 1
            }
            record.attempts.append(Attempt(upstream: id, outcome: failure.description))
            router.logger.debug("upstream attempt failed", metadata: [
                "upstream.id": "\(id)", "rpc.method": "\(call.method)", "upstream.failure": "\(failure.description)",
            ])
            if running.isEmpty && !startNext() { roundFailed() }
        }
    }

    /// The attempts still running lost to `winner`.
    private func abandonLosers(winner: Int) {
        guard running.contains(where: { $0.index != winner }) else { return }
        let now = MonotonicClock.now
        let slow = max(router.slowThreshold(), .milliseconds(200))
        for (index, start) in running where index != winner {
            // Far slower than the others: as good as a timeout for this gateway.
            router.abandoned(index, asTimeout: now - start > slow, now: now)
        }
    }

    /// No upstream answered in this round: the request's own error, a wait for a rate limit's
    /// token, another round after a backoff, or the end.
    private func roundFailed() {
        cancelTimers()
        if let agreed = record.agreedRequestError {
            router.settle(record.heldBack, blame: false)
            return finish(agreed)
        }
        // Only `maxRps` held every upstream back: wait for the next token instead of spending a retry.
        if record.started == startedBeforeRound, let wait = record.rateLimitedWait, tokenWaits < 100,
           budget.canStartAttempt(now: .now, needing: wait + .milliseconds(50)) {
            tokenWaits += 1
            return after(max(wait, .milliseconds(1))) { self.startRound() }
        }
        failedRounds += 1
        let pause = router.configuration.retryBackoff.delay(attempt: failedRounds)
        guard failedRounds < maxRounds, budget.canStartAttempt(now: .now, needing: pause + .milliseconds(50)) else { return giveUp() }
        after(pause) {
            self.router.metrics.retries.increment()
            self.startRound()
        }
    }

    private func giveUp() {
        router.settle(record.heldBack, blame: true)
        if let methodNotFound = record.methodNotFound { return finish(methodNotFound) }
        let tried = Set(record.attempts.map(\.upstream))
        let untried = router.upstreams.filter { !tried.contains($0.spec.id) }
            .map { Attempt(upstream: $0.spec.id, outcome: router.describeUnavailable($0.spec.id)) }
        finish(.failed(.noUpstream(record.attempts + untried)))
    }

    /// An upstream answered.
    private func answer(_ outcome: CallOutcome) {
        router.settle(record.heldBack, blame: true)
        finish(outcome)
    }

    private func finish(_ outcome: CallOutcome) {
        cancelTimers()
        guard let completion else { return }
        self.completion = nil
        completion(outcome)
    }

    private func after(_ delay: Duration, _ work: @escaping @Sendable () -> Void) {
        timers.append(loop.scheduleTask(in: TimeAmount(delay)) { work() })
    }

    private func cancelTimers() {
        for timer in timers { timer.cancel() }
        timers.removeAll()
    }
}

extension EventLoop {
    /// Runs `work` at once when on this loop (the usual case: no hop through its task queue), else on it.
    func runOnLoop(_ work: @escaping @Sendable () -> Void) {
        if inEventLoop { work() } else { execute(work) }
    }
}
