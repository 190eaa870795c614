/// When to start a second (hedged) attempt at another upstream while the first has not answered.
///
/// SPEC §4: if the first attempt has not answered within the upstream's recent p95 latency, a
/// second attempt starts elsewhere; the first answer wins and the loser is cancelled. Waiting
/// for p95 means only about one call in twenty is hedged, yet a stalled upstream costs the
/// client little more than a p95. The delay is kept within `[minimumDelay, maximumDelay]`: a very
/// fast upstream would otherwise be hedged on noise, and a slow one would never be.
///
/// Calls with side effects (``CallKind/sideEffecting``, e.g. `eth_sendRawTransaction`) are never
/// hedged: the router broadcasts those to several failure domains on purpose instead.
public struct HedgingPolicy: Hashable, Sendable {
    /// Whether sending a call twice is harmless.
    public enum CallKind: Hashable, Sendable {
        /// Reads any upstream answers alike: safe to send twice.
        case idempotent
        /// Calls with effects: never hedged.
        case sideEffecting
    }

    /// The shortest hedge delay (≥ 0).
    public let minimumDelay: Duration
    /// The longest hedge delay (≥ `minimumDelay`).
    public let maximumDelay: Duration
    /// The delay when the upstream has too few recent samples for a p95; nil: do not hedge
    /// without data.
    public let delayWithoutLatencyData: Duration?
    /// Extra attempts a request may start by hedging (≥ 0; 0 disables hedging).
    public let maximumHedges: Int
    /// A hedge must have at least this much of the deadline left when it would start, or it is
    /// not worth the load.
    public let minimumHedgeTime: Duration

    /// - Throws: ``FailsafeConfigurationError`` naming the first parameter out of range.
    public init(
        minimumDelay: Duration = .milliseconds(20),
        maximumDelay: Duration = .seconds(2),
        delayWithoutLatencyData: Duration? = .seconds(1),
        maximumHedges: Int = 1,
        minimumHedgeTime: Duration = .milliseconds(50)
    ) throws(FailsafeConfigurationError) {
        typealias Check = FailsafeConfigurationError
        try Check.require(minimumDelay >= .zero, "minimumDelay", "must not be negative")
        try Check.require(maximumDelay >= minimumDelay, "maximumDelay", "must be at least minimumDelay")
        if let delayWithoutLatencyData {
            try Check.require(delayWithoutLatencyData >= .zero, "delayWithoutLatencyData", "must not be negative")
        }
        try Check.require(maximumHedges >= 0, "maximumHedges", "must not be negative")
        try Check.require(minimumHedgeTime >= .zero, "minimumHedgeTime", "must not be negative")
        self.minimumDelay = minimumDelay
        self.maximumDelay = maximumDelay
        self.delayWithoutLatencyData = delayWithoutLatencyData
        self.maximumHedges = maximumHedges
        self.minimumHedgeTime = minimumHedgeTime
    }

    /// p95 kept within 20 ms … 2 s (1 s without data), one hedge, only with ≥ 50 ms left for it.
    public static let `default` = try! HedgingPolicy()

    /// Never hedge.
    public static let disabled = try! HedgingPolicy(maximumHedges: 0)

    /// How long after the latest attempt started to start the next hedge, or nil for no hedge.
    ///
    /// No hedge when: the call has side effects; `hedgesStarted` already reached
    /// `maximumHedges`; there is no p95 and no `delayWithoutLatencyData`; or, after the delay,
    /// less than `minimumHedgeTime` of the deadline would be left.
    ///
    /// - Parameters:
    ///   - kind: whether the call may be sent twice.
    ///   - upstreamP95: the recent p95 latency of the upstream the latest attempt went to; nil
    ///     when it has too few samples.
    ///   - remaining: the request's time left, now.
    ///   - hedgesStarted: hedges this request has started so far.
    public func hedgeDelay(
        for kind: CallKind,
        upstreamP95: Duration?,
        remaining: Duration,
        hedgesStarted: Int = 0
    ) -> Duration? {
        guard kind == .idempotent, hedgesStarted < maximumHedges else { return nil }
        guard let base = upstreamP95 ?? delayWithoutLatencyData else { return nil }
        let delay = base.clamped(to: minimumDelay...maximumDelay)
        guard remaining - delay >= minimumHedgeTime, remaining > delay else { return nil }
        return delay
    }
}
