/// Successes and failures over a sliding time window, giving the error ratio.
///
/// Backed by a ring of time buckets (by default 30 of 1 s), so memory is constant whatever the
/// request rate. At `now` the window holds the outcomes of the last `window − bucketWidth` to
/// `window`, depending on where `now` falls in its bucket; counts are exact.
public struct RollingErrorRate<Clock: _Concurrency.Clock>: Sendable where Clock.Duration == Duration {
    private struct Bucket: Sendable {
        var successes = 0
        var failures = 0
    }

    private var buckets: SlidingBuckets<Clock.Instant, Bucket>

    /// - Parameters:
    ///   - window: how far back outcomes count (30 s).
    ///   - bucketCount: how finely the window slides (30: it moves in 1 s steps).
    /// - Precondition: `window` is positive and `bucketCount` is at least one, leaving buckets at
    ///   least a nanosecond wide.
    public init(window: Duration = .seconds(30), bucketCount: Int = 30) {
        buckets = SlidingBuckets(window: window, bucketCount: bucketCount)
    }

    /// How far back outcomes count.
    public var window: Duration { buckets.window }

    /// Records one call's outcome at `now`. An outcome older than the whole window (instants out
    /// of order) is dropped.
    public mutating func record(succeeded: Bool, now: Clock.Instant) {
        buckets.update(at: now, makeBucket: { Bucket() }, evicted: { _ in }) { bucket in
            if succeeded { bucket.successes += 1 } else { bucket.failures += 1 }
        }
    }

    /// The successes and failures in the window at `now`.
    public func counts(now: Clock.Instant) -> (successes: Int, failures: Int) {
        var successes = 0
        var failures = 0
        buckets.forEach(at: now) { bucket, isLive in
            guard isLive else { return }
            successes += bucket.successes
            failures += bucket.failures
        }
        return (successes, failures)
    }

    /// How many outcomes the window holds at `now`.
    public func total(now: Clock.Instant) -> Int {
        let counts = counts(now: now)
        return counts.successes + counts.failures
    }

    /// failures / (successes + failures) at `now`, or nil when the window is empty.
    public func errorRate(now: Clock.Instant) -> Double? {
        let counts = counts(now: now)
        let total = counts.successes + counts.failures
        return total == 0 ? nil : Double(counts.failures) / Double(total)
    }

    /// Forgets every outcome.
    public mutating func removeAll() {
        buckets.removeAll()
    }
}
