import Cache
import Logging
import PostgresNIO

/// The PostgreSQL cache store (kind `postgres`): one database shared by several gateways, so an
/// answer cached by one is a hit for all.
///
/// It fails open and fast. A `get` waits at most `Options.getTimeout` (250 ms); `put` and
/// `addCounters` only queue (write-behind) and never wait on the network. After a failure the store
/// throws `CacheStoreError(.unavailable, …)` at once, without a round trip, while a background
/// probe retries with backoff (1 s doubling to 30 s); when the database answers again the store
/// recreates its schema if needed and works again, logging one warning per outage and one line
/// when it is back. Creating the store never waits for the database: a gateway starts and serves
/// without its cache.
///
/// The size bound (`maxBytes`, key and value bytes) is enforced periodically by deleting the
/// oldest entries, so the table may exceed it briefly.
public final class PostgresCacheStore: CacheStore {
    public let kind = "postgres"

    /// Timeouts, intervals and buffer bounds; the defaults suit a database on the same network.
    public struct Options: Sendable {
        /// Longest a `get` waits for the database before failing with `.unavailable`.
        public var getTimeout: Duration = .milliseconds(250)
        /// Longest one write-behind batch, or `flush()`, may take.
        public var writeTimeout: Duration = .seconds(1)
        /// Longest `statistics`, `purge`, eviction and schema creation may take (also the server-side `statement_timeout`).
        public var adminTimeout: Duration = .seconds(5)
        /// Longest to wait for a new TCP connection to the database.
        public var connectTimeout: Duration = .seconds(1)
        /// How often queued writes are sent.
        public var flushInterval: Duration = .milliseconds(50)
        /// How often the size bound is checked.
        public var evictionInterval: Duration = .seconds(10)
        /// Waits between probes of an unreachable database.
        public var backoff = OutageBackoff()
        /// Bounds of the write-behind queue; `put` fails with `.unavailable` when it is full.
        public var writeBufferEntries = 10_000
        public var writeBufferBytes = 16 << 20
        /// Connections this store may open.
        public var maximumConnections = 8

        public init() {}
    }

    private let core: StoreCore
    private let background: Task<Void, Never>

    /// - Parameters:
    ///   - url: `postgres://user[:password]@host[:port]/database`, optionally `?sslmode=disable|prefer|require`
    ///     (default `prefer`). Throws `CacheStoreError` if it is malformed; the message never repeats it.
    ///   - maxBytes: bound on the key and value bytes of all entries, shared by every store on the database.
    public init(url: String, logger: Logger, maxBytes: Int = 1 << 30, options: Options = Options()) throws {
        precondition(maxBytes > 0, "maxBytes must be positive")
        let connection = try PostgresConnectionURL(url)
        var logger = logger
        logger[metadataKey: "cache.store"] = "postgres"
        logger[metadataKey: "db.endpoint"] = "\(connection.host):\(connection.port)/\(connection.database)"
        let core = StoreCore(connection: connection, logger: logger, maxBytes: maxBytes, options: options)
        self.core = core
        // The CacheStore contract has `close()` and no `run()`, so the store owns its background
        // work: one task, a task group inside (connection pool, prober, flusher, eviction);
        // `close()` cancels it and waits for it.
        self.background = Task { await core.run() }
    }

    deinit {
        // Without close() pending writes are lost, but no task outlives the store.
        background.cancel()
    }

    /// Whether the database is reachable right now (for a gauge): false while connecting, during an outage and after `close()`.
    public var isAvailable: Bool { core.isAvailable }

    /// Waits (polling, at most `timeout`) until the database is reachable; true if it is.
    public func waitUntilAvailable(timeout: Duration) async -> Bool {
        await core.waitUntilAvailable(timeout: timeout)
    }

    public func get(_ key: CacheKey) async throws -> CacheEntry? {
        try await core.get(key)
    }

    /// Queues the entry and returns at once; it is visible to `get` on this store immediately and
    /// to other stores once flushed (within `Options.flushInterval`). Throws `.unavailable` during
    /// an outage or when the queue is full.
    public func put(_ key: CacheKey, _ entry: CacheEntry) async throws {
        try core.put(key, entry)
    }

    /// Queues the increments and returns at once; kept through an outage and written when the database is back.
    public func addCounters(_ counters: [CacheCounterKey: CacheCounters]) async throws {
        try core.addCounters(counters)
    }

    /// Flushes queued writes first, so the numbers include this store's latest puts and counters.
    public func statistics(chain: String?) async throws -> CacheStatistics {
        try await core.statistics(chain: chain)
    }

    public func purge(chain: String?, method: String?) async throws -> Int {
        try await core.purge(chain: chain, method: method)
    }

    /// Sends queued writes now and waits until the database has them (at most `Options.writeTimeout`).
    public func flush() async throws {
        try await core.flush()
    }

    /// Deletes the oldest entries now if the entries take more than `maxBytes`; returns how many.
    /// (The store also does this every `Options.evictionInterval`.)
    @discardableResult
    public func enforceSizeBound() async throws -> Int {
        try await core.enforceSizeBound()
    }

    public func close() async {
        await core.close()
        background.cancel()
        await background.value
    }
}
