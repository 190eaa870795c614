/// How a ``TokenBucket`` refills, and how it backs off after an upstream's 429.
///
/// Back-off is AIMD, as in TCP congestion control: each 429 (at most once per pause) multiplies
/// the rate by `decreaseFactor`, never below `minimumRateFraction` of the configured rate; after
/// the pause the rate climbs back linearly by `recoveryPerSecond` of the configured rate each
/// second. With the defaults a 429 halves the rate and it is whole again 5 s after the pause.
public struct TokenBucketConfiguration: Hashable, Sendable {
    /// Tokens added per second (> 0): an upstream's `maxRps`, a client key's `rps`.
    public let rate: Double
    /// The most tokens the bucket holds (> 0): how many calls may go at once after a quiet spell.
    public let burst: Double
    /// Rate multiplier on a 429 (0 < f ≤ 1; 1 keeps the rate and only pauses).
    public let decreaseFactor: Double
    /// The lowest the rate goes after repeated 429s, as a fraction of `rate` (0 < f ≤ 1).
    public let minimumRateFraction: Double
    /// How fast a reduced rate recovers: this fraction of `rate` is regained each second (> 0).
    public let recoveryPerSecond: Double
    /// The pause after a 429 that has no `Retry-After` (≥ 0).
    public let defaultBackOff: Duration
    /// The longest pause, whatever `Retry-After` says (≥ `defaultBackOff`), so one odd header
    /// cannot take an upstream out for a day; the next 429 pauses it again anyway.
    public let maximumBackOff: Duration

    /// - Parameter burst: defaults to `rate` (one second's worth), as SPEC §2 says for keys.
    /// - Throws: ``FailsafeConfigurationError`` naming the first parameter out of range.
    public init(
        rate: Double,
        burst: Double? = nil,
        decreaseFactor: Double = 0.5,
        minimumRateFraction: Double = 0.1,
        recoveryPerSecond: Double = 0.1,
        defaultBackOff: Duration = .seconds(1),
        maximumBackOff: Duration = .seconds(60)
    ) throws(FailsafeConfigurationError) {
        typealias Check = FailsafeConfigurationError
        let burst = burst ?? rate
        try Check.require(rate > 0 && rate.isFinite, "rate", "must be a positive number of tokens per second")
        try Check.require(burst > 0 && burst.isFinite, "burst", "must be a positive number of tokens")
        try Check.require(decreaseFactor > 0 && decreaseFactor <= 1, "decreaseFactor", "must be above 0 and at most 1")
        try Check.require(
            minimumRateFraction > 0 && minimumRateFraction <= 1,
            "minimumRateFraction",
            "must be above 0 and at most 1"
        )
        try Check.require(
            recoveryPerSecond > 0 && recoveryPerSecond.isFinite,
            "recoveryPerSecond",
            "must be positive"
        )
        try Check.require(defaultBackOff >= .zero, "defaultBackOff", "must not be negative")
        try Check.require(maximumBackOff >= defaultBackOff, "maximumBackOff", "must be at least defaultBackOff")
        self.rate = rate
        self.burst = burst
        self.decreaseFactor = decreaseFactor
        self.minimumRateFraction = minimumRateFraction
        self.recoveryPerSecond = recoveryPerSecond
        self.defaultBackOff = defaultBackOff
        self.maximumBackOff = maximumBackOff
    }
}

/// A token-bucket rate limiter with pause-and-slow-down after an upstream's 429.
///
/// The bucket starts full (`burst` tokens) and refills continuously at the current rate. A call
/// takes tokens (fractional amounts are fine, e.g. a batch weighted by size). A request for more
/// than `burst` tokens could never pass, so it is admitted when the bucket is full and empties
/// it. ``backOff(now:for:)`` honours an upstream's `Retry-After`: nothing passes until it has
/// elapsed, the bucket is emptied so the upstream is not hit with a full burst on resume, and the
/// rate drops and then recovers as ``TokenBucketConfiguration`` describes. All arithmetic is exact
/// for the piecewise-linear rate, so ``timeUntilAvailable(now:tokens:)`` is never too short.
public struct TokenBucket<Clock: _Concurrency.Clock>: Sendable where Clock.Duration == Duration {
    public typealias Configuration = TokenBucketConfiguration

    /// A reduced rate climbing back linearly from `start`.
    private struct Recovery: Sendable {
        var start: Clock.Instant
        var startRate: Double
    }

    /// Slack for floating-point rounding when comparing token counts.
    private static var tolerance: Double { 1e-9 }

    /// The rate, burst and back-off in force.
    public let configuration: Configuration
    private var storedTokens: Double
    /// When `storedTokens` was last brought up to date; nil until first used (full).
    private var updatedAt: Clock.Instant?
    /// Nothing passes before this instant (an upstream's `Retry-After`).
    public private(set) var pausedUntil: Clock.Instant?
    private var recovery: Recovery?

    /// A full bucket.
    public init(configuration: Configuration) {
        self.configuration = configuration
        self.storedTokens = configuration.burst
    }

    /// Takes `tokens` if they are there at `now`; false (taking nothing) when there are too few
    /// or the bucket is paused.
    ///
    /// - Precondition: `tokens >= 0`.
    public mutating func tryAcquire(now: Clock.Instant, tokens: Double = 1) -> Bool {
        precondition(tokens >= 0, "tokens must not be negative")
        refill(now: now)
        if isPaused(now: now) { return false }
        let needed = min(tokens, configuration.burst)
        guard storedTokens + Self.tolerance * max(1, needed) >= needed else { return false }
        storedTokens = max(0, storedTokens - needed)
        return true
    }

    /// How long from `now` until `tokens` can be taken (zero if they can be now), assuming no one
    /// else takes any and no further back-off.
    ///
    /// - Precondition: `tokens >= 0`.
    public func timeUntilAvailable(now: Clock.Instant, tokens: Double = 1) -> Duration {
        precondition(tokens >= 0, "tokens must not be negative")
        // Refill starts after any pause, and never before the last update (instants out of order).
        let start = max(now, pausedUntil ?? now, updatedAt ?? now)
        let needed = min(tokens, configuration.burst)
        let available = self.tokens(at: start)
        let wait = now.duration(to: start)
        if available + Self.tolerance * max(1, needed) >= needed { return wait }
        return wait + Duration.secondsRoundedUp(seconds(toRefill: needed - available, from: start))
    }

    /// Pauses the bucket after an upstream's 429: nothing passes until `now + pause` (pause =
    /// the `Retry-After`, else `defaultBackOff`, at most `maximumBackOff`), the bucket is
    /// emptied, and the rate is cut. A 429 arriving while already paused (a burst of them from
    /// calls in flight) extends the pause but cuts the rate only once.
    public mutating func backOff(now: Clock.Instant, for retryAfter: Duration? = nil) {
        refill(now: now)
        let pause = (retryAfter ?? configuration.defaultBackOff).clamped(to: .zero...configuration.maximumBackOff)
        let alreadyPaused = isPaused(now: now)
        let until = max(now.advanced(by: pause), pausedUntil ?? now)
        pausedUntil = until
        storedTokens = 0
        if alreadyPaused, let recovery {
            self.recovery = Recovery(start: until, startRate: recovery.startRate)
            return
        }
        let reduced = max(
            configuration.rate * configuration.minimumRateFraction,
            unpausedRate(at: now) * configuration.decreaseFactor
        )
        recovery = reduced < configuration.rate ? Recovery(start: until, startRate: reduced) : nil
    }

    /// The tokens in the bucket at `now`.
    public func availableTokens(now: Clock.Instant) -> Double {
        tokens(at: now)
    }

    /// Whether a back-off pause is in force at `now`.
    public func isPaused(now: Clock.Instant) -> Bool {
        guard let pausedUntil else { return false }
        return now < pausedUntil
    }

    /// Tokens per second being added at `now`: zero while paused, the reduced rate while
    /// recovering from a 429, else the configured rate.
    public func currentRate(now: Clock.Instant) -> Double {
        isPaused(now: now) ? 0 : unpausedRate(at: now)
    }

    // MARK: - Refill arithmetic

    /// Brings `storedTokens` up to `now` and drops back-off state that has run its course.
    private mutating func refill(now: Clock.Instant) {
        storedTokens = tokens(at: now)
        updatedAt = max(updatedAt ?? now, now)
        if let pausedUntil, pausedUntil <= now { self.pausedUntil = nil }
        if let recovery, recoveryEnd(of: recovery) <= now { self.recovery = nil }
    }

    private func tokens(at instant: Clock.Instant) -> Double {
        guard let updatedAt, instant > updatedAt else { return storedTokens }
        return min(configuration.burst, storedTokens + tokensAdded(from: updatedAt, to: instant))
    }

    /// The recovery slope, in tokens per second per second.
    private var slope: Double { configuration.rate * configuration.recoveryPerSecond }

    private func unpausedRate(at instant: Clock.Instant) -> Double {
        guard let recovery else { return configuration.rate }
        let elapsed = max(0, recovery.start.duration(to: instant).inSeconds)
        return min(configuration.rate, recovery.startRate + slope * elapsed)
    }

    private func recoveryEnd(of recovery: Recovery) -> Clock.Instant {
        recovery.start.advanced(by: .secondsRoundedUp((configuration.rate - recovery.startRate) / slope))
    }

    /// Tokens added between two instants: nothing while paused, then the integral of the rate.
    private func tokensAdded(from start: Clock.Instant, to end: Clock.Instant) -> Double {
        let start = max(start, pausedUntil ?? start)
        guard end > start else { return 0 }
        guard let recovery else { return configuration.rate * start.duration(to: end).inSeconds }
        return integral(recovery, upTo: offset(end, from: recovery))
            - integral(recovery, upTo: offset(start, from: recovery))
    }

    /// Seconds from `start` until `amount` more tokens have been added (`start` is not paused).
    private func seconds(toRefill amount: Double, from start: Clock.Instant) -> Double {
        guard let recovery else { return amount / configuration.rate }
        let from = offset(start, from: recovery)
        let target = integral(recovery, upTo: from) + amount
        let rampEnd = (configuration.rate - recovery.startRate) / slope
        let rampTokens = integral(recovery, upTo: rampEnd)
        let reached: Double
        if target <= rampTokens {
            // Solve startRate·u + slope·u²/2 = target for u.
            let r0 = recovery.startRate
            reached = ((r0 * r0 + 2 * slope * target).squareRoot() - r0) / slope
        } else {
            reached = rampEnd + (target - rampTokens) / configuration.rate
        }
        return max(0, reached - from)
    }

    /// Seconds from the start of `recovery` to `instant`, not below zero.
    private func offset(_ instant: Clock.Instant, from recovery: Recovery) -> Double {
        max(0, recovery.start.duration(to: instant).inSeconds)
    }

    /// Tokens added during the first `seconds` of `recovery`: the rate climbs linearly from
    /// `startRate` to the configured rate, then stays there.
    private func integral(_ recovery: Recovery, upTo seconds: Double) -> Double {
        let rampEnd = (configuration.rate - recovery.startRate) / slope
        let r0 = recovery.startRate
        if seconds <= rampEnd { return r0 * seconds + slope * seconds * seconds / 2 }
        return r0 * rampEnd + slope * rampEnd * rampEnd / 2 + configuration.rate * (seconds - rampEnd)
    }
}
