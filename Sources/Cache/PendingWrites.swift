/// Writes accepted by `SQLiteCacheStore.put` and not yet committed to the file: the store
/// answers `get` from here first, and a background flush writes them in one transaction.
///
/// A write stays here until the transaction holding it has committed, so a reader never
/// falls between the buffer and the file. Bounded in writes and in bytes: when full, the
/// oldest write is dropped (and counted) rather than making a caller wait for the disk.
struct PendingWrites {
    struct Write: Sendable, Equatable {
        /// nil removes the key (an over-large replacement must not leave the old answer behind).
        var entry: CacheEntry?
        /// Milliseconds since the Unix epoch when the write was accepted.
        var acceptedAt: Int64
        /// Tells a write from a later one under the same key.
        var sequence: UInt64
        /// Key and value bytes, counted against `byteCapacity`.
        var size: Int
    }

    /// Writes handed to one flush; give them back to `committed(_:)` once written.
    typealias Batch = [(key: CacheKey, write: Write)]

    /// The most writes held; the oldest is dropped to make room.
    let capacity: Int
    /// The most key and value bytes held; the oldest writes are dropped to make room.
    let byteCapacity: Int
    /// Key and value bytes of the writes held.
    private(set) var bytes = 0
    /// Writes dropped because the buffer was full, since the store opened.
    private(set) var dropped = 0

    private var writes: [CacheKey: Write] = [:]
    /// Keys in the order their writes arrived, oldest from `arrivalsStart`; an item whose
    /// sequence no longer matches `writes` is stale and skipped.
    private var arrivals: [(key: CacheKey, sequence: UInt64)] = []
    private var arrivalsStart = 0
    private var lastSequence: UInt64 = 0
    /// Writes up to this sequence are in a batch being flushed.
    private var batchedThrough: UInt64 = 0

    init(capacity: Int, byteCapacity: Int = .max) {
        self.capacity = max(1, capacity)
        self.byteCapacity = max(0, byteCapacity)
    }

    var count: Int { writes.count }
    var isEmpty: Bool { writes.isEmpty }

    /// Whether some write is in no batch yet, so a flush has work to do.
    var hasUnbatchedWrites: Bool { lastSequence > batchedThrough }

    /// The write under `key` waiting to be committed, if any.
    func write(for key: CacheKey) -> Write? {
        writes[key]
    }

    /// Accepts a write of `entry` (nil: a removal) under `key`, replacing an earlier pending one.
    mutating func insert(_ key: CacheKey, _ entry: CacheEntry?, acceptedAt: Int64) {
        let size = key.byteCount + (entry?.value.count ?? 0)
        if let replaced = writes.removeValue(forKey: key) {
            bytes -= replaced.size
        }
        // A single write larger than `byteCapacity` is still held, alone.
        while !writes.isEmpty, writes.count >= capacity || bytes + size > byteCapacity {
            dropOldest()
        }
        lastSequence += 1
        writes[key] = Write(entry: entry, acceptedAt: acceptedAt, sequence: lastSequence, size: size)
        bytes += size
        arrivals.append((key, lastSequence))
        if arrivals.count - arrivalsStart > 2 * capacity {
            compactArrivals()
        }
    }

    /// Every pending write, oldest first, for one flush; they stay visible until `committed(_:)`.
    /// (In that order, new rows get row ids in write order, which breaks ties in eviction order.)
    mutating func makeBatch() -> Batch {
        batchedThrough = lastSequence
        return writes.map { ($0.key, $0.value) }.sorted { $0.write.sequence < $1.write.sequence }
    }

    /// Forgets the writes of `batch` that were not replaced since it was made.
    mutating func committed(_ batch: Batch) {
        for (key, write) in batch where writes[key]?.sequence == write.sequence {
            writes[key] = nil
            bytes -= write.size
        }
        compactArrivals()
    }

    /// A flush failed: its writes must go into the next batch again.
    mutating func flushFailed() {
        batchedThrough = 0
    }

    private mutating func dropOldest() {
        while arrivalsStart < arrivals.count {
            let (key, sequence) = arrivals[arrivalsStart]
            arrivalsStart += 1
            if let write = writes[key], write.sequence == sequence {
                writes[key] = nil
                bytes -= write.size
                dropped += 1
                return
            }
        }
        // Unreachable while every held write has an arrival item; keep the bound regardless.
        if let oldest = writes.first {
            writes[oldest.key] = nil
            bytes -= oldest.value.size
            dropped += 1
        }
    }

    /// Drops stale arrival items, keeping the live ones in order.
    private mutating func compactArrivals() {
        arrivals = arrivals[arrivalsStart...].filter { writes[$0.key]?.sequence == $0.sequence }
        arrivalsStart = 0
    }
}
