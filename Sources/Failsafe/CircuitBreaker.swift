/// Stops sending calls to an upstream that keeps failing, and probes it back to health.
///
/// A pure state machine in the style of async-http-client's pool: the caller asks
/// ``decide(now:)`` before a call and reports the call with ``record(_:now:)``; the breaker never
/// sleeps or reads a clock.
///
/// - **closed**: calls pass. It opens after `consecutiveFailureThreshold` failures in a row, or
///   when the rolling window holds at least `minimumCalls` calls and at least
///   `failureRateThreshold` of them failed.
/// - **open(until:)**: calls are rejected with the time left. The first opening lasts
///   `openDuration`; each failed probe re-opens it for `multiplier` times longer, up to
///   `maximumOpenDuration`. The first ``decide(now:)`` at or after `until` moves it to half-open.
/// - **halfOpen**: up to `halfOpenProbes` probe calls are let through at once (others are
///   rejected). Each probe failure re-opens the circuit with a longer cool-down;
///   `halfOpenProbes` probe successes close it, forget the window and reset the cool-down.
///
/// Outcomes recorded while open are ignored (they belong to calls admitted before it opened), and
/// so are outcomes recorded while half-open with no probe in flight.
public struct CircuitBreaker<Clock: _Concurrency.Clock>: Sendable where Clock.Duration == Duration {
    public typealias Configuration = CircuitBreakerConfiguration

    /// Where the breaker stands.
    public enum State: Hashable, Sendable {
        /// Calls pass.
        case closed
        /// Calls are rejected until the given instant; then probes may go.
        case open(until: Clock.Instant)
        /// A limited number of probe calls may go.
        case halfOpen
    }

    /// Whether a call may go now.
    public enum Decision: Hashable, Sendable {
        /// The circuit is closed: go.
        case allow
        /// Go as a probe: its outcome decides whether the circuit closes or re-opens.
        case allowProbe
        /// Do not call this upstream; ask again after `retryAfter` at the earliest.
        case reject(retryAfter: Duration)
    }

    /// How a call ended, as far as the upstream's health is concerned.
    public enum Outcome: Hashable, Sendable {
        /// The upstream answered properly.
        case success
        /// The upstream failed (timeout, connection error, 5xx, invalid answer).
        case failure
        /// The call ended without a verdict on the upstream (a hedging loser was cancelled, the
        /// upstream only said it is rate limited). It frees a probe slot and counts for nothing.
        case cancelled
    }

    /// A change of state caused by a recorded outcome, for logs and metrics.
    public enum Transition: Hashable, Sendable {
        case opened(until: Clock.Instant)
        case closed
    }

    /// The thresholds and cool-downs in force.
    public let configuration: Configuration
    /// The current state. The move from open to half-open happens in ``decide(now:)``, so this
    /// can still say `.open(until:)` with `until` in the past.
    public private(set) var state: State = .closed
    /// Failures in a row while closed.
    public private(set) var consecutiveFailures = 0
    /// How many times in a row the circuit opened without closing in between; sets the cool-down.
    public private(set) var consecutiveOpenings = 0
    private var window: RollingErrorRate<Clock>
    /// When each probe in flight was let through.
    private var probes: [Clock.Instant] = []
    private var probeSuccesses = 0

    /// A closed breaker.
    public init(configuration: Configuration = .default) {
        self.configuration = configuration
        self.window = RollingErrorRate(window: configuration.window, bucketCount: configuration.windowBuckets)
    }

    /// Whether a call may go to the upstream at `now`; moves an expired open circuit to
    /// half-open and takes a probe slot when it answers `.allowProbe`.
    public mutating func decide(now: Clock.Instant) -> Decision {
        switch state {
        case .closed:
            return .allow
        case .open(let until):
            guard now >= until else { return .reject(retryAfter: now.duration(to: until)) }
            state = .halfOpen
            probes = []
            probeSuccesses = 0
            return decide(now: now)
        case .halfOpen:
            releaseTimedOutProbes(now: now)
            if probes.count < configuration.halfOpenProbes {
                probes.append(now)
                return .allowProbe
            }
            let slotFreedAt = probes.min()!.advanced(by: configuration.probeTimeout)
            return .reject(retryAfter: min(configuration.openDuration, now.duration(to: slotFreedAt)))
        }
    }

    /// What ``decide(now:)`` would answer at `now`, without taking a probe slot: for ranking
    /// upstreams before choosing one.
    public func wouldAllow(now: Clock.Instant) -> Bool {
        var copy = self
        switch copy.decide(now: now) {
        case .allow, .allowProbe: return true
        case .reject: return false
        }
    }

    /// Reports how a call ended. Returns the transition it caused, if any.
    @discardableResult
    public mutating func record(_ outcome: Outcome, now: Clock.Instant) -> Transition? {
        switch state {
        case .closed:
            switch outcome {
            case .success:
                consecutiveFailures = 0
                window.record(succeeded: true, now: now)
            case .failure:
                consecutiveFailures += 1
                window.record(succeeded: false, now: now)
                if shouldOpen(now: now) { return open(now: now) }
            case .cancelled:
                break
            }
            return nil
        case .open:
            return nil
        case .halfOpen:
            releaseTimedOutProbes(now: now)
            guard !probes.isEmpty else { return nil }
            probes.removeFirst()
            switch outcome {
            case .success:
                probeSuccesses += 1
                guard probeSuccesses >= configuration.halfOpenProbes else { return nil }
                close()
                return .closed
            case .failure:
                return open(now: now)
            case .cancelled:
                return nil
            }
        }
    }

    /// The failure ratio in the rolling window at `now` (nil when empty). The window is
    /// cleared whenever the circuit closes.
    public func failureRate(now: Clock.Instant) -> Double? {
        window.errorRate(now: now)
    }

    /// Closes the circuit and forgets all history, e.g. when an operator returns an upstream
    /// to service.
    public mutating func reset() {
        close()
    }

    private func shouldOpen(now: Clock.Instant) -> Bool {
        if consecutiveFailures >= configuration.consecutiveFailureThreshold { return true }
        let counts = window.counts(now: now)
        let total = counts.successes + counts.failures
        guard total >= configuration.minimumCalls else { return false }
        return Double(counts.failures) >= configuration.failureRateThreshold * Double(total)
    }

    private mutating func open(now: Clock.Instant) -> Transition {
        consecutiveOpenings += 1
        let until = now.advanced(by: configuration.openDuration(forOpening: consecutiveOpenings))
        state = .open(until: until)
        probes = []
        probeSuccesses = 0
        return .opened(until: until)
    }

    private mutating func close() {
        state = .closed
        consecutiveFailures = 0
        consecutiveOpenings = 0
        probes = []
        probeSuccesses = 0
        window.removeAll()
    }

    private mutating func releaseTimedOutProbes(now: Clock.Instant) {
        let timeout = configuration.probeTimeout
        probes.removeAll { $0.advanced(by: timeout) <= now }
    }
}
