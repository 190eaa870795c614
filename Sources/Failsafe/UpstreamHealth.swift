/// Everything the router knows about one upstream's health, as one state machine: its circuit
/// breaker, its rate limit and 429 back-off, rolling latency and error rate, and whether its
/// head lags.
///
/// The I/O shell asks ``beginAttempt(now:)`` before sending and reports every attempt with
/// ``record(_:now:)``; head tracking sets ``isLagging`` from the latest ``ConsensusHead``.
///
/// ``State`` follows SPEC §3 (`/status`), most severe first:
/// - **down**: taken out of service (a fault drill), or the circuit is open or half-open and the
///   failure that last opened it got no answer at all (connection error, timeout): nothing
///   answers there.
/// - **open-circuit**: the circuit is open or half-open after failures the upstream did answer
///   (5xx, invalid responses): it is reachable but misbehaving. Only probes go to it.
/// - **lagging**: the circuit is closed but the head is more than `maxLag` blocks behind the
///   consensus head: fine for historical calls, not for head-dependent ones.
/// - **healthy**: otherwise. A healthy upstream can still be briefly unavailable while it is
///   paused after a 429 or out of `maxRps` tokens; ``mayTry(now:)`` says so.
///
/// A 429 pauses the upstream and slows its rate (``TokenBucket/backOff(now:for:)``) and counts
/// in the error rate, but not against the circuit: being over quota is not being broken.
/// Latency is kept for successful calls only.
public struct UpstreamHealth<Clock: _Concurrency.Clock>: Sendable where Clock.Duration == Duration {
    public typealias Configuration = UpstreamHealthConfiguration

    /// The upstream's state as `/status` shows it.
    public enum State: String, Hashable, Sendable, CaseIterable {
        case healthy
        case lagging
        case openCircuit = "open-circuit"
        case down
    }

    /// Why an attempt failed, as far as the upstream is to blame.
    public enum Failure: Hashable, Sendable {
        /// No answer within the attempt's timeout.
        case timeout
        /// Connection refused, reset, TLS or DNS failure.
        case connectionError
        /// HTTP 5xx.
        case serverError
        /// HTTP 429 or JSON-RPC -32005, with the `Retry-After` it gave, if any.
        case rateLimited(retryAfter: Duration?)
        /// An answer that is not valid JSON-RPC, or lacks data the upstream should have.
        case invalidResponse

        /// Whether the upstream gave no answer at all.
        var isUnreachable: Bool {
            switch self {
            case .timeout, .connectionError: return true
            case .serverError, .rateLimited, .invalidResponse: return false
            }
        }
    }

    /// How an attempt ended.
    public enum Outcome: Hashable, Sendable {
        /// A proper answer, after `latency`.
        case success(latency: Duration)
        case failure(Failure)
        /// Ended without a verdict on the upstream (the loser of a hedge was cancelled).
        case cancelled
    }

    /// Whether an attempt may go to the upstream now.
    public enum AttemptDecision: Hashable, Sendable {
        /// Go; a rate-limit token has been taken.
        case allow
        /// Go as the circuit's probe; its outcome decides whether the circuit closes.
        case allowProbe
        /// Do not send.
        case reject(Rejection)
    }

    /// Why an attempt may not go.
    public enum Rejection: Hashable, Sendable {
        /// Taken out of service until the given instant (nil: until returned).
        case outOfService(until: Clock.Instant?)
        /// The circuit is open (or its probes are all in flight).
        case circuitOpen(retryAfter: Duration)
        /// Paused after a 429, or out of `maxRps` tokens.
        case rateLimited(retryAfter: Duration)
    }

    /// A change of ``State`` caused by a recorded outcome, for logs and metrics.
    public struct StateChange: Hashable, Sendable {
        /// The state before the outcome.
        public var from: State
        /// The state after it.
        public var to: State
    }

    /// What `/status` shows for the upstream.
    public struct Snapshot: Hashable, Sendable {
        public var state: State
        /// Latency of successful calls in the window; nil when there were none.
        public var latency: LatencySummary?
        /// Successful calls in the window.
        public var successes: Int
        /// Failed calls in the window, 429s included.
        public var failures: Int
        /// failures / calls; nil without calls.
        public var errorRate: Double?
        /// ``UpstreamHealth/score(now:)``.
        public var score: Double
        /// The circuit breaker's own state.
        public var circuit: CircuitBreaker<Clock>.State
        /// The end of a 429 pause in force, if any.
        public var pausedUntil: Clock.Instant?
    }

    /// The policies this upstream is judged by.
    public let configuration: Configuration
    /// Set by head tracking: whether the head is more than `maxLag` behind the consensus head.
    public var isLagging = false
    /// The upstream's circuit breaker, to read; changed only through this type.
    public private(set) var circuitBreaker: CircuitBreaker<Clock>
    private var rateLimiter: TokenBucket<Clock>?
    /// The 429 pause when there is no rate limiter to hold it.
    private var pausedUntil: Clock.Instant?
    private var latency: RollingLatencyWindow<Clock>
    private var outcomes: RollingErrorRate<Clock>
    /// The failure that last opened the circuit.
    private var openedBy: Failure?
    /// Set by a fault drill: out of service until this instant, or (`.some(nil)`) until returned.
    private var outOfServiceUntil: Clock.Instant??

    /// A healthy upstream with no history.
    public init(configuration: Configuration = .default) {
        self.configuration = configuration
        self.circuitBreaker = CircuitBreaker(configuration: configuration.circuitBreaker)
        self.rateLimiter = configuration.rateLimit.map { TokenBucket(configuration: $0) }
        self.latency = RollingLatencyWindow(window: configuration.window, bucketCount: configuration.windowBuckets)
        self.outcomes = RollingErrorRate(window: configuration.window, bucketCount: configuration.windowBuckets)
    }

    // MARK: - State

    /// The state at `now`, as defined above.
    public func state(now: Clock.Instant) -> State {
        if isOutOfService(now: now) { return .down }
        if circuitBreaker.state != .closed {
            return openedBy?.isUnreachable == true ? .down : .openCircuit
        }
        return isLagging ? .lagging : .healthy
    }

    /// Whether ``beginAttempt(now:)`` would let an attempt go at `now` (without taking a token
    /// or probe slot): the `may-try-now` input of ``UpstreamSelector``.
    public func mayTry(now: Clock.Instant) -> Bool {
        rejection(now: now) == nil && circuitBreaker.wouldAllow(now: now)
    }

    /// Asks to send an attempt at `now`; on `.allow` or `.allowProbe` a rate-limit token (and
    /// the probe slot) is taken, so the attempt must then be reported with ``record(_:now:)``.
    public mutating func beginAttempt(now: Clock.Instant) -> AttemptDecision {
        if let rejection = rejection(now: now) { return .reject(rejection) }
        let decision = circuitBreaker.decide(now: now)
        if case .reject(let retryAfter) = decision { return .reject(.circuitOpen(retryAfter: retryAfter)) }
        if rateLimiter?.tryAcquire(now: now) == false {
            // Not expected after `rejection(now:)` found a token; give the probe slot back.
            circuitBreaker.record(.cancelled, now: now)
            return .reject(.rateLimited(retryAfter: rateLimiter!.timeUntilAvailable(now: now)))
        }
        return decision == .allowProbe ? .allowProbe : .allow
    }

    /// Reports how an attempt ended. Returns the change of ``State`` it caused, if any.
    @discardableResult
    public mutating func record(_ outcome: Outcome, now: Clock.Instant) -> StateChange? {
        let before = state(now: now)
        switch outcome {
        case .success(let latency):
            self.latency.record(latency, now: now)
            outcomes.record(succeeded: true, now: now)
            circuitBreaker.record(.success, now: now)
        case .failure(.rateLimited(let retryAfter)):
            outcomes.record(succeeded: false, now: now)
            backOff(now: now, retryAfter: retryAfter)
            circuitBreaker.record(.cancelled, now: now)
        case .failure(let failure):
            outcomes.record(succeeded: false, now: now)
            if case .opened = circuitBreaker.record(.failure, now: now) { openedBy = failure }
        case .cancelled:
            circuitBreaker.record(.cancelled, now: now)
        }
        let after = state(now: now)
        return before == after ? nil : StateChange(from: before, to: after)
    }

    // MARK: - Fault drills

    /// Takes the upstream out of service, as if its failure domain had failed (`POST
    /// /admin/drill`), until `until` or until ``returnToService()`` when nil.
    public mutating func takeOutOfService(until: Clock.Instant? = nil) {
        outOfServiceUntil = .some(until)
    }

    /// Ends a drill early.
    public mutating func returnToService() {
        outOfServiceUntil = nil
    }

    /// Whether a drill holds the upstream out of service at `now`.
    public func isOutOfService(now: Clock.Instant) -> Bool {
        switch outOfServiceUntil {
        case .none: return false
        case .some(.none): return true
        case .some(.some(let until)): return now < until
        }
    }

    // MARK: - Measurements

    /// The selection score at `now`; lower is better.
    ///
    /// It estimates the seconds spent per successful answer:
    /// `score = L + P · f / (s + 1)`, where `L` is the mean latency of successful calls in the
    /// window (`assumedLatency` while there are none), `P` is `failurePenalty`, and `f` and `s`
    /// are the failures and successes in the window. `f / (s + 1)` is the expected number of
    /// failures before a success, smoothed by one assumed success so a single early failure does
    /// not make the score infinite. 10 % failures cost ~0.11 s with the default 1 s penalty, so an
    /// upstream that errs loses to a clean one even when somewhat faster.
    public func score(now: Clock.Instant) -> Double {
        let meanLatency = latency.mean(now: now) ?? configuration.assumedLatency
        let counts = outcomes.counts(now: now)
        return meanLatency.inSeconds
            + configuration.failurePenalty.inSeconds * Double(counts.failures) / Double(counts.successes + 1)
    }

    /// Calls per second this upstream can take now: none while it is down, its circuit open, out
    /// of service or paused by a 429; its rate limit (lowered after 429s) otherwise; nil when it
    /// has no rate limit (capacity unknown).
    public func capacity(now: Clock.Instant) -> Double? {
        switch state(now: now) {
        case .down, .openCircuit: return 0
        case .healthy, .lagging: break
        }
        if currentPause(now: now) != nil { return 0 }
        return rateLimiter?.currentRate(now: now)
    }

    /// The recent p95 latency for hedging, or nil with fewer than `minimumSamplesForP95` samples.
    public func hedgingLatency(now: Clock.Instant) -> Duration? {
        latency.quantile(0.95, now: now, minimumCount: configuration.minimumSamplesForP95)
    }

    /// Latency quantiles of successful calls in the window, or nil when there are none.
    public func latencySummary(now: Clock.Instant) -> LatencySummary? {
        latency.summary(now: now)
    }

    /// failures / calls in the window (429s included), or nil when there were no calls.
    public func errorRate(now: Clock.Instant) -> Double? {
        outcomes.errorRate(now: now)
    }

    /// Everything `/status` shows for the upstream.
    public func snapshot(now: Clock.Instant) -> Snapshot {
        let counts = outcomes.counts(now: now)
        return Snapshot(
            state: state(now: now),
            latency: latency.summary(now: now),
            successes: counts.successes,
            failures: counts.failures,
            errorRate: outcomes.errorRate(now: now),
            score: score(now: now),
            circuit: circuitBreaker.state,
            pausedUntil: currentPause(now: now)
        )
    }

    // MARK: - Private

    /// Why an attempt may not go at `now`, before asking the circuit.
    private func rejection(now: Clock.Instant) -> Rejection? {
        if isOutOfService(now: now) { return .outOfService(until: outOfServiceUntil ?? nil) }
        if let rateLimiter {
            let wait = rateLimiter.timeUntilAvailable(now: now)
            return wait > .zero ? .rateLimited(retryAfter: wait) : nil
        }
        if let pausedUntil, now < pausedUntil { return .rateLimited(retryAfter: now.duration(to: pausedUntil)) }
        return nil
    }

    private func currentPause(now: Clock.Instant) -> Clock.Instant? {
        let until = rateLimiter?.pausedUntil ?? pausedUntil
        guard let until, now < until else { return nil }
        return until
    }

    private mutating func backOff(now: Clock.Instant, retryAfter: Duration?) {
        let pause = (retryAfter ?? configuration.defaultRetryAfter)
            .clamped(to: .zero...configuration.maximumRetryAfter)
        if rateLimiter != nil {
            rateLimiter!.backOff(now: now, for: pause)
        } else {
            pausedUntil = max(pausedUntil ?? now, now.advanced(by: pause))
        }
    }
}
