/// How long to wait before retry number `attempt`: exponential growth, capped, with jitter so
/// that many clients retrying the same failure do not retry in step.
///
/// The exponential ceiling for retry `n` (1 = first retry) is
/// `min(cap, base · multiplier^(n−1))`. Then, following AWS's "Exponential Backoff and Jitter":
/// - ``Jitter/none``: the ceiling itself.
/// - ``Jitter/full``: uniform in `[0, ceiling]` (the default: the least total contention).
/// - ``Jitter/decorrelated``: uniform in `[base, 3 · previous]`, at most `cap`, where `previous`
///   is the last delay (`base` for the first retry); it grows on average but not in lockstep, and
///   ignores `multiplier` and `n`.
///
/// The random source is injected so tests can pin it; every result lies in `[0, cap]`.
public struct Backoff: Hashable, Sendable {
    /// The random part of the delay.
    public enum Jitter: Hashable, Sendable {
        case none
        case full
        case decorrelated
    }

    /// The first retry's ceiling, and the least delay with decorrelated jitter (> 0).
    public let base: Duration
    /// The longest delay (≥ `base`).
    public let cap: Duration
    /// Growth per retry (≥ 1).
    public let multiplier: Double
    /// How the delay is randomised below its ceiling.
    public let jitter: Jitter

    /// - Throws: ``FailsafeConfigurationError`` naming the first parameter out of range.
    public init(
        base: Duration = .milliseconds(100),
        cap: Duration = .seconds(10),
        multiplier: Double = 2,
        jitter: Jitter = .full
    ) throws(FailsafeConfigurationError) {
        typealias Check = FailsafeConfigurationError
        try Check.require(base > .zero, "base", "must be positive")
        try Check.require(cap >= base, "cap", "must be at least base")
        try Check.require(multiplier >= 1 && multiplier.isFinite, "multiplier", "must be at least 1")
        self.base = base
        self.cap = cap
        self.multiplier = multiplier
        self.jitter = jitter
    }

    /// 100 ms doubling to 10 s, full jitter.
    public static let `default` = try! Backoff()

    /// The delay before retry number `attempt` (1 = first retry; lower values count as 1).
    ///
    /// - Parameters:
    ///   - previous: the delay used before the last retry; only decorrelated jitter uses it.
    ///   - generator: the random source.
    public func delay(
        attempt: Int,
        previous: Duration? = nil,
        using generator: inout some RandomNumberGenerator
    ) -> Duration {
        switch jitter {
        case .none:
            return ceiling(attempt: attempt)
        case .full:
            return Self.uniform(in: .zero...ceiling(attempt: attempt), using: &generator)
        case .decorrelated:
            let previous = (previous ?? base).clamped(to: base...cap)
            let upper = previous.inSeconds * 3 >= cap.inSeconds ? cap : previous * 3
            return Self.uniform(in: base...upper, using: &generator)
        }
    }

    /// ``delay(attempt:previous:using:)`` with the system's random numbers.
    public func delay(attempt: Int, previous: Duration? = nil) -> Duration {
        var generator = SystemRandomNumberGenerator()
        return delay(attempt: attempt, previous: previous, using: &generator)
    }

    /// `min(cap, base · multiplier^(attempt−1))`, computed in floating point and capped before
    /// converting back, so huge attempt numbers cannot overflow.
    public func ceiling(attempt: Int) -> Duration {
        let growth = Math.power(multiplier, Double(max(attempt, 1) - 1))
        let seconds = base.inSeconds * growth
        guard seconds < cap.inSeconds else { return cap }
        return min(Duration.secondsRounded(seconds), cap)
    }

    /// A uniformly random duration in `range`, to the nanosecond.
    private static func uniform(
        in range: ClosedRange<Duration>,
        using generator: inout some RandomNumberGenerator
    ) -> Duration {
        let lower = range.lowerBound.inNanoseconds
        let upper = range.upperBound.inNanoseconds
        guard upper > lower else { return range.lowerBound }
        return .nanoseconds(Int64.random(in: lower...upper, using: &generator))
    }
}
