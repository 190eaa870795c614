/// Latency samples over a sliding time window, with quantiles for hedging and scoring.
///
/// The window is a ring of time buckets (by default 30 buckets of 1 s), each with a small
/// logarithmic histogram, plus a running total of the live buckets; memory stays bounded
/// whatever the request rate (at most `bucketCount + 1` histograms of ≤ 577 bins, in practice a
/// few dozen bins each), and recording costs O(1) except when a bucket expires.
///
/// Accuracy:
/// - A quantile `q` is the sample of rank `⌊q·(n−1)⌋` (0-based, of the `n` samples in the window
///   sorted ascending) to within ``relativeAccuracy`` (2 %) of its value, for latencies between
///   1 µs and 10⁴ s (outside that range they count as the nearest bound). Quantiles 0 and 1 are
///   the exact minimum and maximum, and no estimate lies outside them.
/// - ``LatencySummary/count``, ``LatencySummary/mean``, ``LatencySummary/minimum`` and
///   ``LatencySummary/maximum`` are exact.
/// - Time is bucketed, the grid starting at the first sample's instant: at `now` the window holds
///   the samples of the last `window − bucketWidth` to `window`, depending on where `now` falls
///   in its bucket.
public struct RollingLatencyWindow<Clock: _Concurrency.Clock>: Sendable where Clock.Duration == Duration {
    /// The largest relative error of a reported quantile (2 %).
    public static var relativeAccuracy: Double { LogHistogram.relativeAccuracy }

    private struct Bucket: Sendable {
        var histogram = LogHistogram()
        var count = 0
        var sum = Duration.zero
        var minimum = Duration.zero
        var maximum = Duration.zero
    }

    private var buckets: SlidingBuckets<Clock.Instant, Bucket>
    /// The sum of every stored bucket's histogram, expired or not.
    private var stored = LogHistogram()

    /// - Parameters:
    ///   - window: how far back samples count (30 s).
    ///   - bucketCount: how finely the window slides (30: it moves in 1 s steps).
    /// - Precondition: `window` is positive and `bucketCount` is at least one, leaving buckets at
    ///   least a nanosecond wide.
    public init(window: Duration = .seconds(30), bucketCount: Int = 30) {
        buckets = SlidingBuckets(window: window, bucketCount: bucketCount)
    }

    /// How far back samples count.
    public var window: Duration { buckets.window }

    /// Records one latency observed at `now`. Negative latencies count as zero; a sample older
    /// than the whole window (instants out of order) is dropped.
    public mutating func record(_ latency: Duration, now: Clock.Instant) {
        let latency = max(latency, .zero)
        let key = LogHistogram.key(forSeconds: latency.inSeconds)
        // Take the running total out of `self`, so the eviction closure can change it while
        // `buckets` is being changed, without copying its storage.
        var stored = self.stored
        self.stored = LogHistogram()
        defer { self.stored = stored }
        let accepted = buckets.update(
            at: now,
            makeBucket: { Bucket(minimum: latency, maximum: latency) },
            evicted: { stored.subtract($0.histogram) }
        ) { bucket in
            bucket.histogram.add(key: key)
            bucket.count += 1
            bucket.sum += latency
            bucket.minimum = min(bucket.minimum, latency)
            bucket.maximum = max(bucket.maximum, latency)
        }
        if accepted { stored.add(key: key) }
    }

    /// How many samples the window holds at `now`.
    public func count(now: Clock.Instant) -> Int {
        var count = 0
        buckets.forEach(at: now) { bucket, isLive in
            if isLive { count += bucket.count }
        }
        return count
    }

    /// The latency at quantile `q` (0 = fastest, 0.5 = median, 1 = slowest) of the samples in
    /// the window at `now`, or nil when there are none.
    ///
    /// - Precondition: `0 <= q <= 1`.
    public func quantile(_ q: Double, now: Clock.Instant) -> Duration? {
        quantiles([q], now: now)?.values.first
    }

    /// ``quantile(_:now:)``, or nil when the window holds fewer than `minimumCount` samples (a
    /// p95 of three samples says little), in one pass.
    public func quantile(_ q: Double, now: Clock.Instant, minimumCount: Int) -> Duration? {
        quantiles([q], now: now, minimumCount: minimumCount)?.values.first
    }

    /// The mean latency in the window at `now`, or nil when it is empty.
    public func mean(now: Clock.Instant) -> Duration? {
        // Count and sum of the live buckets only: upstream scoring asks for this on every plan,
        // and the quantile walk of `summary` is what it does not need.
        var count = 0
        var sum = Duration.zero
        buckets.forEach(at: now) { bucket, isLive in
            guard isLive else { return }
            count += bucket.count
            sum += bucket.sum
        }
        return count == 0 ? nil : sum / count
    }

    /// Count, mean, extremes and the usual quantiles in one pass, or nil when the window is empty.
    public func summary(now: Clock.Instant) -> LatencySummary? {
        guard let result = quantiles([0.5, 0.9, 0.95, 0.99], now: now) else { return nil }
        return LatencySummary(
            count: result.count,
            mean: result.sum / result.count,
            minimum: result.minimum,
            maximum: result.maximum,
            p50: result.values[0],
            p90: result.values[1],
            p95: result.values[2],
            p99: result.values[3]
        )
    }

    /// The histogram bins held in memory, over all buckets and the running total: what the
    /// memory bound is about.
    var storedBinCount: Int {
        buckets.storedBuckets.reduce(stored.keys.count) { $0 + $1.histogram.keys.count }
    }

    /// Forgets every sample.
    public mutating func removeAll() {
        buckets.removeAll()
        stored = LogHistogram()
    }

    private func quantiles(
        _ qs: [Double],
        now: Clock.Instant,
        minimumCount: Int = 1
    ) -> (values: [Duration], count: Int, sum: Duration, minimum: Duration, maximum: Duration)? {
        for q in qs { precondition(q >= 0 && q <= 1, "quantile must be in 0...1") }
        var count = 0
        var sum = Duration.zero
        var minimum = Duration.zero
        var maximum = Duration.zero
        var expired: [LogHistogram] = []
        buckets.forEach(at: now) { bucket, isLive in
            guard isLive else {
                expired.append(bucket.histogram)
                return
            }
            minimum = count == 0 ? bucket.minimum : min(minimum, bucket.minimum)
            maximum = count == 0 ? bucket.maximum : max(maximum, bucket.maximum)
            count += bucket.count
            sum += bucket.sum
        }
        guard count > 0, count >= minimumCount else { return nil }

        // Ranks are asked for in any order; walk the bins once, in ascending rank order.
        let ranks = qs.map { Int(($0 * Double(count - 1)).rounded(.down)) }
        let order = ranks.indices.sorted { ranks[$0] < ranks[$1] }
        var values = Array(repeating: maximum, count: qs.count)
        var next = 0
        var seen = 0
        walk: for key in stored.keys {
            var inBin = stored.count(atKey: key)
            for histogram in expired { inBin -= histogram.count(atKey: key) }
            guard inBin > 0 else { continue }
            seen += inBin
            while ranks[order[next]] < seen {
                let rank = ranks[order[next]]
                let estimate = Duration.secondsPrecise(LogHistogram.value(ofKey: key))
                values[order[next]] = rank == 0 ? minimum
                    : rank == count - 1 ? maximum
                    : estimate.clamped(to: minimum...maximum)
                next += 1
                if next == order.count { break walk }
            }
        }
        return (values, count, sum, minimum, maximum)
    }
}

/// What a latency window holds at one moment: exact count, mean and extremes, and quantiles
/// within the window's relative accuracy.
public struct LatencySummary: Hashable, Sendable {
    /// Samples in the window.
    public var count: Int
    /// Their exact mean.
    public var mean: Duration
    /// The fastest, exactly.
    public var minimum: Duration
    /// The slowest, exactly.
    public var maximum: Duration
    /// The median.
    public var p50: Duration
    public var p90: Duration
    /// The hedging delay's input (SPEC §4).
    public var p95: Duration
    public var p99: Duration

    public init(
        count: Int,
        mean: Duration,
        minimum: Duration,
        maximum: Duration,
        p50: Duration,
        p90: Duration,
        p95: Duration,
        p99: Duration
    ) {
        self.count = count
        self.mean = mean
        self.minimum = minimum
        self.maximum = maximum
        self.p50 = p50
        self.p90 = p90
        self.p95 = p95
        self.p99 = p99
    }
}
