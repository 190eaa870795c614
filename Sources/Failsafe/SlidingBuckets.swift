/// A ring of time buckets covering the most recent `window`, the storage behind the rolling
/// windows: memory is `bucketCount` buckets whatever the request rate.
///
/// Bucket `i` holds what happened in `[origin + i·width, origin + (i+1)·width)`, where `origin` is
/// the first instant recorded. At `now`, the live buckets are the `bucketCount` most recent
/// indices up to `now`'s own, so the window reaches back between `window − width` and `window`.
/// Expired buckets are evicted lazily when a later bucket is first written; readers skip
/// buckets that have expired but are still stored.
struct SlidingBuckets<Instant: InstantProtocol, Bucket: Sendable>: Sendable where Instant.Duration == Duration {
    private struct Slot: Sendable {
        var index: Int64
        var bucket: Bucket
    }

    /// The whole window.
    let window: Duration
    /// The width of one bucket in attoseconds.
    private let width: Int128
    private var origin: Instant?
    private var newestIndex: Int64 = .min
    private var slots: [Slot?]

    /// - Precondition: `window` is positive and `bucketCount` is at least one and leaves each
    ///   bucket at least a nanosecond wide.
    init(window: Duration, bucketCount: Int) {
        precondition(window > .zero, "window must be positive")
        precondition(bucketCount >= 1, "bucketCount must be at least 1")
        let width = window.attoseconds / Int128(bucketCount)
        precondition(width >= 1_000_000_000, "buckets must be at least 1 ns wide")
        self.window = window
        self.width = width
        self.slots = Array(repeating: nil, count: bucketCount)
    }

    var bucketCount: Int { slots.count }

    /// The width of one bucket.
    var bucketWidth: Duration { Duration(attoseconds: width) }

    private func index(of now: Instant, origin: Instant) -> Int64 {
        let elapsed = origin.duration(to: now).attoseconds
        var quotient = elapsed / width
        if elapsed < 0 && quotient * width != elapsed { quotient -= 1 }  // floor, not truncation
        return Int64(clamping: quotient)
    }

    /// Applies `update` to the bucket for `now`, creating it empty (`makeBucket`) when needed.
    /// Buckets that fall out of the window as time moves on are passed to `evicted` first.
    /// Returns false, changing nothing, when `now` is older than the whole window (possible
    /// only if instants arrive out of order).
    @discardableResult
    mutating func update(
        at now: Instant,
        makeBucket: () -> Bucket,
        evicted: (Bucket) -> Void,
        _ update: (inout Bucket) -> Void
    ) -> Bool {
        let origin = self.origin ?? now
        self.origin = origin
        let index = self.index(of: now, origin: origin)
        let count = Int64(slots.count)
        if index > newestIndex {
            let oldestLive = index &- count &+ 1
            for position in slots.indices {
                if let slot = slots[position], slot.index < oldestLive {
                    evicted(slot.bucket)
                    slots[position] = nil
                }
            }
            newestIndex = index
        } else if index <= newestIndex &- count {
            return false
        }
        let position = Int(((index % count) + count) % count)
        if var slot = slots[position], slot.index == index {
            // Out of the array while it changes: a bucket holding arrays (a histogram) is then
            // the only owner of their storage and is changed in place, not copied first.
            slots[position] = nil
            update(&slot.bucket)
            slots[position] = slot
        } else {
            if let stale = slots[position] { evicted(stale.bucket) }
            var bucket = makeBucket()
            update(&bucket)
            slots[position] = Slot(index: index, bucket: bucket)
        }
        return true
    }

    /// Calls `body` with every stored bucket and whether it is live at `now`.
    func forEach(at now: Instant, _ body: (_ bucket: Bucket, _ isLive: Bool) -> Void) {
        guard let origin else { return }
        let oldestLive = index(of: now, origin: origin) &- Int64(slots.count) &+ 1
        for slot in slots {
            if let slot { body(slot.bucket, slot.index >= oldestLive) }
        }
    }

    /// Every stored bucket, live or expired.
    var storedBuckets: [Bucket] { slots.compactMap { $0?.bucket } }

    /// Forgets every bucket.
    mutating func removeAll() {
        for position in slots.indices { slots[position] = nil }
        origin = nil
        newestIndex = .min
    }
}
