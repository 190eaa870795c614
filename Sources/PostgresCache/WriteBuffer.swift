import Cache

/// Writes waiting for the database (write-behind): entries and counter increments, bounded, no I/O.
///
/// `put` only enqueues here, so a caller never waits on the network for a write; a background
/// flusher takes batches and writes them. Entries stay visible to `get` until the database has
/// them. A key whose earlier value is still being written is held back from the next batch, so
/// writes of one key reach the database in order even when two flushes overlap.
struct WriteBuffer: Sendable {
    struct Batch: Sendable {
        /// Sorted by key, so that concurrent upserts from several gateways lock rows in one order.
        var entries: [(key: CacheKey, entry: CacheEntry)]
    }

    let maxEntries: Int
    let maxBytes: Int
    private var pending: [CacheKey: CacheEntry] = [:]
    private var inFlight: [CacheKey: CacheEntry] = [:]
    private(set) var bytes = 0
    private var counters: [CacheCounterKey: CacheCounters] = [:]
    /// Distinct chain/method pairs kept while the database is away; more are dropped.
    let maxCounterKeys: Int

    init(maxEntries: Int, maxBytes: Int, maxCounterKeys: Int = 10_000) {
        self.maxEntries = maxEntries
        self.maxBytes = maxBytes
        self.maxCounterKeys = maxCounterKeys
    }

    var pendingEntries: Int { pending.count }
    var inFlightEntries: Int { inFlight.count }
    var hasPendingWrites: Bool { !pending.isEmpty || !counters.isEmpty }
    var isEmpty: Bool { pending.isEmpty && inFlight.isEmpty && counters.isEmpty }

    /// The newest value of `key` not yet confirmed by the database.
    func lookup(_ key: CacheKey) -> CacheEntry? {
        pending[key] ?? inFlight[key]
    }

    /// Queues an entry; false when the buffer is full (the database is not keeping up).
    mutating func enqueue(_ key: CacheKey, _ entry: CacheEntry) -> Bool {
        let size = Self.size(key, entry)
        if let replaced = pending[key] {
            let newBytes = bytes - Self.size(key, replaced) + size
            guard newBytes <= maxBytes else { return false }
            bytes = newBytes
        } else {
            guard pending.count + inFlight.count < maxEntries, bytes + size <= maxBytes else { return false }
            bytes += size
        }
        pending[key] = entry
        return true
    }

    /// Moves up to `limit` pending entries in flight, skipping keys already in flight.
    mutating func takeBatch(limit: Int) -> Batch {
        var taken: [(key: CacheKey, entry: CacheEntry)] = []
        for (key, entry) in pending where inFlight[key] == nil {
            taken.append((key, entry))
            if taken.count == limit { break }
        }
        for (key, entry) in taken {
            pending[key] = nil
            inFlight[key] = entry
        }
        taken.sort { ($0.key.chain, $0.key.method, $0.key.params) < ($1.key.chain, $1.key.method, $1.key.params) }
        return Batch(entries: taken)
    }

    /// The database has the batch.
    mutating func batchWritten(_ batch: Batch) {
        for (key, entry) in batch.entries where inFlight[key] != nil {
            inFlight[key] = nil
            bytes -= Self.size(key, entry)
        }
    }

    /// The batch did not reach the database: its entries wait again, unless a newer value of the key is waiting already.
    mutating func batchFailed(_ batch: Batch) {
        for (key, entry) in batch.entries where inFlight[key] != nil {
            inFlight[key] = nil
            if pending[key] == nil {
                pending[key] = entry
            } else {
                bytes -= Self.size(key, entry)
            }
        }
    }

    mutating func addCounters(_ increments: [CacheCounterKey: CacheCounters]) {
        for (key, increment) in increments {
            if counters[key] == nil, counters.count >= maxCounterKeys { continue }
            counters[key, default: CacheCounters()] += increment
        }
    }

    /// All counter increments, now owned by the caller; give them back with `addCounters` if the write fails.
    mutating func takeCounters() -> [CacheCounterKey: CacheCounters] {
        defer { counters = [:] }
        return counters
    }

    /// Drops waiting entries and counters of `chain` / `method` (nil: all); returns how many entries were dropped.
    mutating func purge(chain: String?, method: String?) -> Int {
        func matches(_ entryChain: String, _ entryMethod: String) -> Bool {
            (chain == nil || chain == entryChain) && (method == nil || method == entryMethod)
        }
        var removed = 0
        for (key, entry) in pending where matches(key.chain, key.method) {
            pending[key] = nil
            bytes -= Self.size(key, entry)
            removed += 1
        }
        for key in counters.keys where matches(key.chain, key.method) {
            counters[key] = nil
        }
        return removed
    }

    /// Key and value bytes, as the store's size bound and statistics count them.
    static func size(_ key: CacheKey, _ entry: CacheEntry) -> Int {
        key.byteCount + entry.value.count
    }
}
