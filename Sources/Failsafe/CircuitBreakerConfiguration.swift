/// When a ``CircuitBreaker`` opens, how long it stays open, and how it probes back.
///
/// The defaults: open after 5 consecutive failures, or when at least 50 % of at least 20 calls in
/// the last 10 s failed; stay open 1 s, doubling after each failed probe up to 30 s; then let
/// 1 probe through, which closes the circuit on success.
public struct CircuitBreakerConfiguration: Hashable, Sendable {
    /// Consecutive failures that open the circuit (≥ 1).
    public let consecutiveFailureThreshold: Int
    /// The failure ratio in the rolling window at or above which the circuit opens (0 < r ≤ 1).
    public let failureRateThreshold: Double
    /// Calls the rolling window must hold before its ratio can open the circuit (≥ 1), so two
    /// failures out of three calls at night do not.
    public let minimumCalls: Int
    /// How far back the rolling window reaches.
    public let window: Duration
    /// How finely the window slides; each bucket must be at least 1 ms wide.
    public let windowBuckets: Int
    /// How long the circuit stays open the first time.
    public let openDuration: Duration
    /// The longest cool-down, however many probes failed (≥ `openDuration`).
    public let maximumOpenDuration: Duration
    /// The cool-down grows by this factor after each failed probe (≥ 1; 1 keeps it constant).
    public let openDurationMultiplier: Double
    /// Probe calls let through at once while half-open, and successes needed to close (≥ 1).
    public let halfOpenProbes: Int
    /// A probe with no recorded outcome after this long stops holding its slot, so a lost
    /// outcome cannot keep the circuit half-open and rejecting forever.
    public let probeTimeout: Duration

    /// - Throws: ``FailsafeConfigurationError`` naming the first parameter out of range.
    public init(
        consecutiveFailureThreshold: Int = 5,
        failureRateThreshold: Double = 0.5,
        minimumCalls: Int = 20,
        window: Duration = .seconds(10),
        windowBuckets: Int = 10,
        openDuration: Duration = .seconds(1),
        maximumOpenDuration: Duration = .seconds(30),
        openDurationMultiplier: Double = 2,
        halfOpenProbes: Int = 1,
        probeTimeout: Duration = .seconds(30)
    ) throws(FailsafeConfigurationError) {
        typealias Check = FailsafeConfigurationError
        try Check.require(consecutiveFailureThreshold >= 1, "consecutiveFailureThreshold", "must be at least 1")
        try Check.require(
            failureRateThreshold > 0 && failureRateThreshold <= 1,
            "failureRateThreshold",
            "must be above 0 and at most 1"
        )
        try Check.require(minimumCalls >= 1, "minimumCalls", "must be at least 1")
        try Check.require(window > .zero, "window", "must be positive")
        try Check.require(
            windowBuckets >= 1 && window / windowBuckets >= .milliseconds(1),
            "windowBuckets",
            "must be at least 1, with buckets at least 1 ms wide"
        )
        try Check.require(openDuration > .zero, "openDuration", "must be positive")
        try Check.require(
            maximumOpenDuration >= openDuration,
            "maximumOpenDuration",
            "must be at least openDuration"
        )
        try Check.require(
            openDurationMultiplier >= 1 && openDurationMultiplier.isFinite,
            "openDurationMultiplier",
            "must be at least 1"
        )
        try Check.require(halfOpenProbes >= 1, "halfOpenProbes", "must be at least 1")
        try Check.require(probeTimeout > .zero, "probeTimeout", "must be positive")
        self.consecutiveFailureThreshold = consecutiveFailureThreshold
        self.failureRateThreshold = failureRateThreshold
        self.minimumCalls = minimumCalls
        self.window = window
        self.windowBuckets = windowBuckets
        self.openDuration = openDuration
        self.maximumOpenDuration = maximumOpenDuration
        self.openDurationMultiplier = openDurationMultiplier
        self.halfOpenProbes = halfOpenProbes
        self.probeTimeout = probeTimeout
    }

    /// 5 consecutive failures or ≥ 50 % of ≥ 20 calls in 10 s; open 1 s doubling to 30 s; 1 probe.
    public static let `default` = try! CircuitBreakerConfiguration()

    /// The cool-down for the `opening`-th opening in a row (1 = first):
    /// `min(maximumOpenDuration, openDuration · multiplier^(opening−1))`.
    public func openDuration(forOpening opening: Int) -> Duration {
        let growth = Math.power(openDurationMultiplier, Double(max(opening, 1) - 1))
        let seconds = openDuration.inSeconds * growth
        guard seconds < maximumOpenDuration.inSeconds else { return maximumOpenDuration }
        return min(Duration.secondsRounded(seconds), maximumOpenDuration)
    }
}
