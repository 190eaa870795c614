/// How an ``UpstreamHealth`` judges one upstream: its circuit breaker, its rate limit, the
/// rolling windows behind its score, and what a 429 costs it.
public struct UpstreamHealthConfiguration: Hashable, Sendable {
    /// When the upstream's circuit opens and how it probes back.
    public let circuitBreaker: CircuitBreakerConfiguration
    /// The upstream's `maxRps` as a token bucket; nil: no limit of ours (a 429 still pauses it).
    public let rateLimit: TokenBucketConfiguration?
    /// The pause after a 429 without `Retry-After` (≥ 0).
    public let defaultRetryAfter: Duration
    /// The longest pause a 429 causes, whatever its `Retry-After` says (≥ `defaultRetryAfter`).
    public let maximumRetryAfter: Duration
    /// How far back latency and error rate are kept.
    public let window: Duration
    /// How finely those windows slide; buckets must be at least 1 ms wide.
    public let windowBuckets: Int
    /// Successful calls needed in the window before its p95 is used for hedging (≥ 1); with fewer,
    /// the p95 is too noisy and the hedging policy's fallback applies.
    public let minimumSamplesForP95: Int
    /// What one failed call is assumed to cost in the score: detecting it and retrying (≥ 0).
    public let failurePenalty: Duration
    /// The latency assumed in the score while the window has no successful call, so a new
    /// upstream is neither shunned nor preferred over proven ones (> 0).
    public let assumedLatency: Duration

    /// - Throws: ``FailsafeConfigurationError`` naming the first parameter out of range.
    public init(
        circuitBreaker: CircuitBreakerConfiguration = .default,
        rateLimit: TokenBucketConfiguration? = nil,
        defaultRetryAfter: Duration = .seconds(1),
        maximumRetryAfter: Duration = .seconds(60),
        window: Duration = .seconds(30),
        windowBuckets: Int = 30,
        minimumSamplesForP95: Int = 20,
        failurePenalty: Duration = .seconds(1),
        assumedLatency: Duration = .milliseconds(200)
    ) throws(FailsafeConfigurationError) {
        typealias Check = FailsafeConfigurationError
        try Check.require(defaultRetryAfter >= .zero, "defaultRetryAfter", "must not be negative")
        try Check.require(
            maximumRetryAfter >= defaultRetryAfter,
            "maximumRetryAfter",
            "must be at least defaultRetryAfter"
        )
        try Check.require(window > .zero, "window", "must be positive")
        try Check.require(
            windowBuckets >= 1 && window / windowBuckets >= .milliseconds(1),
            "windowBuckets",
            "must be at least 1, with buckets at least 1 ms wide"
        )
        try Check.require(minimumSamplesForP95 >= 1, "minimumSamplesForP95", "must be at least 1")
        try Check.require(failurePenalty >= .zero, "failurePenalty", "must not be negative")
        try Check.require(assumedLatency > .zero, "assumedLatency", "must be positive")
        self.circuitBreaker = circuitBreaker
        self.rateLimit = rateLimit
        self.defaultRetryAfter = defaultRetryAfter
        self.maximumRetryAfter = maximumRetryAfter
        self.window = window
        self.windowBuckets = windowBuckets
        self.minimumSamplesForP95 = minimumSamplesForP95
        self.failurePenalty = failurePenalty
        self.assumedLatency = assumedLatency
    }

    /// Default breaker, no rate limit, 30 s windows, p95 from 20 samples, 1 s failure penalty.
    public static let `default` = try! UpstreamHealthConfiguration()
}
