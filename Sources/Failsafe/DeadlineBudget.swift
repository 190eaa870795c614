/// One deadline for a whole client request, shared by every attempt, retry and hedge.
///
/// SPEC §2's `requestTimeout` bounds the request with all retries included; each attempt gets
/// what is left, never more than its upstream's own timeout, and no attempt starts when too
/// little is left for it to be useful (it would only time out and add load).
public struct DeadlineBudget<Clock: _Concurrency.Clock>: Hashable, Sendable where Clock.Duration == Duration {
    /// When the request arrived.
    public let start: Clock.Instant
    /// When the client must have an answer.
    public let deadline: Clock.Instant
    /// The least time an attempt needs to be worth starting.
    public let minimumAttemptTime: Duration

    /// - Parameters:
    ///   - now: when the request arrived.
    ///   - total: the whole request's timeout (`requestTimeout`); negative counts as zero.
    ///   - minimumAttemptTime: the least time worth starting an attempt with (50 ms).
    public init(now: Clock.Instant, total: Duration, minimumAttemptTime: Duration = .milliseconds(50)) {
        self.start = now
        self.deadline = now.advanced(by: max(total, .zero))
        self.minimumAttemptTime = max(minimumAttemptTime, .zero)
    }

    /// Time left at `now`, never negative.
    public func remaining(now: Clock.Instant) -> Duration {
        max(now.duration(to: deadline), .zero)
    }

    /// Time since the request arrived.
    public func elapsed(now: Clock.Instant) -> Duration {
        max(start.duration(to: now), .zero)
    }

    /// Whether the deadline has passed at `now`.
    public func isExpired(now: Clock.Instant) -> Bool {
        now >= deadline
    }

    /// Whether another attempt fits at `now`: at least `needing` (default
    /// ``minimumAttemptTime``) is left, and some time is left at all.
    public func canStartAttempt(now: Clock.Instant, needing: Duration? = nil) -> Bool {
        let remaining = remaining(now: now)
        return remaining > .zero && remaining >= (needing ?? minimumAttemptTime)
    }

    /// The timeout for an attempt starting at `now`: `min(remaining, upstreamTimeout)`
    /// (just the remaining time when the upstream has no timeout of its own).
    public func attemptTimeout(now: Clock.Instant, upstreamTimeout: Duration? = nil) -> Duration {
        let remaining = remaining(now: now)
        guard let upstreamTimeout else { return remaining }
        return min(remaining, max(upstreamTimeout, .zero))
    }

    /// ``attemptTimeout(now:upstreamTimeout:)`` when ``canStartAttempt(now:needing:)``, else nil:
    /// the one call a retry loop needs.
    public func nextAttemptTimeout(now: Clock.Instant, upstreamTimeout: Duration? = nil) -> Duration? {
        guard canStartAttempt(now: now) else { return nil }
        return attemptTimeout(now: now, upstreamTimeout: upstreamTimeout)
    }
}
