/// Admission of calls to a chain's upstreams by priority, so that when capacity shrinks
/// (failure domains down, upstreams at their `maxRps`, 429s) `bulk` calls are shed first, then
/// `normal` ones, and `critical` calls keep the capacity there is.
///
/// A token bucket that refills at the chain's current capacity (calls per second over the
/// upstreams that may take calls now) and holds `window` of it. A call takes a token; `bulk` only
/// while the bucket is more than `bulkReserve` full, `normal` while more than `normalReserve`
/// full, `critical` always (taking a token when there is one) — so the last part of the capacity
/// is kept for the more important calls, and a lower class may still use all of it when nobody
/// else needs it.
/// Unknown capacity (an upstream without a `maxRps`) sheds nothing. Pure: time is passed in.
public struct PriorityAdmission<Clock: _Concurrency.Clock>: Sendable where Clock.Duration == Duration {
    public enum Decision: Equatable, Sendable {
        case admit
        /// Shed: try again after this long (the time for the bucket to refill to the class's reserve).
        case shed(retryAfter: Duration)
    }

    /// Bucket fill (fraction of its size) below which `bulk` calls are shed.
    public let bulkReserve: Double
    /// Bucket fill below which `normal` calls are shed.
    public let normalReserve: Double
    /// How much capacity the bucket holds.
    public let window: Duration
    private var tokens: Double?
    private var updatedAt: Clock.Instant?

    public init(bulkReserve: Double = 0.5, normalReserve: Double = 0.2, window: Duration = .seconds(1)) {
        precondition(0 <= normalReserve && normalReserve <= bulkReserve && bulkReserve < 1, "reserves must satisfy 0 ≤ normal ≤ bulk < 1")
        self.bulkReserve = bulkReserve
        self.normalReserve = normalReserve
        self.window = window
    }

    /// Admits or sheds one call of `priority` when the upstreams can take `capacity` calls per
    /// second (nil: no known limit).
    public mutating func admit(_ priority: Priority, capacity: Double?, now: Clock.Instant) -> Decision {
        guard let capacity else {
            tokens = nil
            updatedAt = now
            return .admit
        }
        let size = max(1, capacity * window.inSeconds)
        var level = tokens ?? size
        if let updatedAt { level += max(0, updatedAt.duration(to: now).inSeconds) * capacity }
        level = min(level, size)
        updatedAt = now
        // Critical calls are never shed: beyond the capacity, one waits for an upstream's token
        // within its deadline rather than being refused.
        guard priority != .critical else {
            tokens = max(0, level - 1)
            return .admit
        }
        let reserve = priority == .normal ? normalReserve * size : bulkReserve * size
        guard level - 1 >= reserve - 1e-9 else {
            tokens = level
            let missing = reserve + 1 - level
            return .shed(retryAfter: capacity > 0 ? .seconds(missing / capacity) : window)
        }
        tokens = level - 1
        return .admit
    }
}
