/// Where cached JSON-RPC answers live (SPEC section 6). Three stores implement it: memory
/// (in-process, bounded LRU), SQLite (embedded default, survives restarts) and PostgreSQL
/// (shared by several gateways, in the `PostgresCache` target).
///
/// A store only keeps bytes under keys; what may be cached and for how long is the router's
/// cache policy. Every operation may throw: the caller treats any error as a miss (the cache
/// fails open), so a store must fail fast rather than hang when its backend is gone.
public protocol CacheStore: Sendable {
    /// `memory`, `sqlite` or `postgres`, for logs, metrics and `bulwark cache stats`.
    var kind: String { get }

    /// The entry under `key`, or nil.
    func get(_ key: CacheKey) async throws -> CacheEntry?

    /// Stores `entry` under `key`, replacing what was there; may evict other entries to stay within bounds.
    /// May return before the entry is durable (write-behind), but a `get` after it returns sees the entry.
    func put(_ key: CacheKey, _ entry: CacheEntry) async throws

    /// Adds hit/miss/stale counts per chain and method, kept with the store so that
    /// `bulwark cache stats` can report hit ratios of a gateway that wrote them.
    func addCounters(_ counters: [CacheCounterKey: CacheCounters]) async throws

    /// Entries, bytes and counters, per chain and method; all chains when `chain` is nil.
    func statistics(chain: String?) async throws -> CacheStatistics

    /// Removes entries (and their counters) of `chain` / `method` (nil: all); returns how many entries were removed.
    func purge(chain: String?, method: String?) async throws -> Int

    /// Flushes pending writes and releases connections and files. Later calls throw.
    func close() async
}

/// One cached call: the chain, the method and its parameters (block tags already resolved
/// to concrete numbers by the router, so a key names one answer forever).
public struct CacheKey: Hashable, Sendable {
    public let chain: String
    public let method: String
    /// The parameters as compact JSON text, e.g. `["0xabc…","0x10"]`; `[]` for none.
    public let params: String
    /// The three hashed once: probing a large table compares this, held in the table itself,
    /// before it touches any string's storage (a cache miss for each key tried).
    private let fingerprint: Int

    public init(chain: String, method: String, params: String) {
        self.chain = chain
        self.method = method
        self.params = params
        var hasher = Hasher()
        hasher.combine(chain)
        hasher.combine(method)
        hasher.combine(params)
        fingerprint = hasher.finalize()
    }

    public static func == (lhs: CacheKey, rhs: CacheKey) -> Bool {
        lhs.fingerprint == rhs.fingerprint && lhs.params == rhs.params && lhs.method == rhs.method && lhs.chain == rhs.chain
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(fingerprint)
    }

    /// Bytes the key occupies, counted against a store's size bound.
    public var byteCount: Int { chain.utf8.count + method.utf8.count + params.utf8.count }
}

/// A cached answer: the JSON `result` exactly as an upstream sent it.
public struct CacheEntry: Sendable, Equatable {
    public var value: [UInt8]
    /// When it was answered, in milliseconds since the Unix epoch (wall clock: entries outlive processes).
    public var storedAt: Int64

    public init(value: [UInt8], storedAt: Int64) {
        self.value = value
        self.storedAt = storedAt
    }
}

public struct CacheCounterKey: Hashable, Sendable {
    public var chain: String
    public var method: String

    public init(chain: String, method: String) {
        self.chain = chain
        self.method = method
    }
}

public struct CacheCounters: Sendable, Equatable {
    public var hits = 0
    public var misses = 0
    /// Answers served stale because no upstream could answer (`staleIfError`).
    public var stale = 0

    public init(hits: Int = 0, misses: Int = 0, stale: Int = 0) {
        self.hits = hits
        self.misses = misses
        self.stale = stale
    }

    public static func += (lhs: inout CacheCounters, rhs: CacheCounters) {
        lhs.hits += rhs.hits
        lhs.misses += rhs.misses
        lhs.stale += rhs.stale
    }
}

/// What `bulwark cache stats` prints.
public struct CacheStatistics: Sendable, Equatable {
    public struct Method: Sendable, Equatable {
        public var chain: String
        public var method: String
        public var entries: Int
        /// Key and value bytes of its entries.
        public var bytes: Int
        public var counters: CacheCounters

        public init(chain: String, method: String, entries: Int, bytes: Int, counters: CacheCounters) {
            self.chain = chain
            self.method = method
            self.entries = entries
            self.bytes = bytes
            self.counters = counters
        }

        /// Hits over hits and misses; nil before the first lookup.
        public var hitRatio: Double? {
            counters.hits + counters.misses == 0 ? nil : Double(counters.hits) / Double(counters.hits + counters.misses)
        }
    }

    /// Sorted by chain, then method; a method appears when it has entries or counters.
    public var methods: [Method]

    public init(methods: [Method]) {
        self.methods = methods.sorted { ($0.chain, $0.method) < ($1.chain, $1.method) }
    }

    public var entries: Int { methods.reduce(0) { $0 + $1.entries } }
    public var bytes: Int { methods.reduce(0) { $0 + $1.bytes } }
}

/// A store that cannot do what was asked; the caller logs it and treats the call as a miss.
public struct CacheStoreError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable {
        /// The backend is unreachable (database down, connection refused, timed out); the store fails fast while it is.
        case unavailable
        /// The store's files or schema are not what this version expects.
        case incompatible
        /// Used after `close()`.
        case closed
        case other
    }

    public var kind: Kind
    /// Why, for a log line. Never contains passwords or full connection URLs.
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}
