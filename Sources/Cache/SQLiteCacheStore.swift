import Foundation
import GRDB
import Logging
import Synchronization

/// The embedded cache store, and the default: one SQLite file in WAL mode (through GRDB) that
/// survives restarts, bounded in bytes by evicting the least recently used entries.
///
/// `put` never waits for the disk: writes wait in a bounded in-memory buffer, which `get` reads
/// first, and a background task writes them in one transaction every `flushInterval` or every
/// `flushBatchSize` writes. Reads never write: an entry's access time is refreshed lazily, at most
/// once per `touchInterval`, with the next flush. Call `close()` to flush and release the file.
public final class SQLiteCacheStore: CacheStore {
    /// How the store trades latency, memory and write amplification; tests shorten the times.
    struct Tuning: Sendable {
        /// Longest time a write waits in memory before its flush starts.
        var flushInterval: Duration = .milliseconds(50)
        /// A flush starts at once when this many writes wait.
        var flushBatchSize = 256
        /// Most writes waiting in memory; beyond it the oldest is dropped.
        var pendingCapacity = 4096
        /// Most key and value bytes waiting in memory; beyond it the oldest writes are dropped.
        var pendingByteCapacity = 32 << 20
        /// An entry's access time is refreshed when a read finds it older than this (milliseconds).
        var touchInterval: Int64 = 60_000
        /// Pause after a failed flush before the next attempt.
        var retryDelay: Duration = .seconds(1)
        /// Wall clock in milliseconds since the Unix epoch (access times outlive the process).
        var now: @Sendable () -> Int64 = { Int64((Date().timeIntervalSince1970 * 1000).rounded()) }
    }

    struct State {
        enum Lifecycle { case open, closing, closed }

        var lifecycle = Lifecycle.open
        var pending: PendingWrites
        /// Keys read from the file whose access time is due for a refresh, with the time of the read.
        var touches: [CacheKey: Int64] = [:]
        /// The background flusher, while it waits for writes.
        var idleFlusher: CheckedContinuation<Void, Never>?
        var flusher: Task<Void, Never>?
        /// Dropped writes already logged.
        var reportedDrops = 0
    }

    public var kind: String { "sqlite" }
    /// The cache file.
    public let path: String
    /// The most key and value bytes kept; past it, the least recently used entries are evicted
    /// down to 90 % of it. An entry larger than this is not stored.
    public let maxBytes: Int

    let pool: DatabasePool
    let logger: Logger
    let tuning: Tuning
    let state: Mutex<State>

    /// Opens the cache file at `path`, creating it (and its directory) when missing.
    /// - Throws: `CacheStoreError`: `.unavailable` when the file or its directory cannot be
    ///   written, `.incompatible` when the file is not a SQLite database or holds a schema this
    ///   version does not read.
    public convenience init(path: String, maxBytes: Int, logger: Logger) throws(CacheStoreError) {
        try self.init(path: path, maxBytes: maxBytes, logger: logger, tuning: Tuning())
    }

    init(path: String, maxBytes: Int, logger: Logger, tuning: Tuning) throws(CacheStoreError) {
        self.path = path
        self.maxBytes = max(0, maxBytes)
        self.tuning = tuning
        var logger = logger
        logger[metadataKey: "cache.kind"] = "sqlite"
        self.logger = logger
        self.pool = try Self.openPool(path: path)
        self.state = Mutex(State(pending: PendingWrites(capacity: tuning.pendingCapacity, byteCapacity: tuning.pendingByteCapacity)))
        // The store owns its flusher: it must write whether or not the host runs services, and
        // `close()` ends it after the last flush.
        let flusher = Task { [self] in await self.runFlusher() }
        state.withLock { $0.flusher = flusher }
        logger.debug("opened SQLite cache", metadata: ["cache.path": "\(path)", "cache.max_bytes": "\(maxBytes)"])
    }

    private static func openPool(path: String) throws(CacheStoreError) -> DatabasePool {
        try SQLiteCacheSchema.prepareDirectory(for: path)
        var configuration = Configuration()
        configuration.label = "bulwark.cache"
        // Fail fast when another process holds the file rather than hang the gateway.
        configuration.busyMode = .timeout(1)
        configuration.prepareDatabase { db in
            // Durable enough for a cache in WAL mode: a power cut can lose the last flushes, never consistency.
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        let pool: DatabasePool
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
        } catch {
            throw CacheStoreError(sqlite: error, path: path)
        }
        do {
            try pool.barrierWriteWithoutTransaction { db in try SQLiteCacheSchema.prepare(db, path: path) }
        } catch {
            try? pool.close()
            throw CacheStoreError(sqlite: error, path: path)
        }
        return pool
    }

    /// Writes dropped because the write buffer was full (the disk could not keep up), since opening.
    public var droppedWrites: Int { state.withLock { $0.pending.dropped } }

    /// Writes accepted and not yet committed to the file.
    var pendingWriteCount: Int { state.withLock { $0.pending.count } }

    // MARK: - CacheStore

    public func get(_ key: CacheKey) async throws -> CacheEntry? {
        let pending = try state.withLock { state throws(CacheStoreError) in
            guard state.lifecycle == .open else { throw closedError }
            return state.pending.write(for: key)
        }
        if let pending {
            return pending.entry
        }
        let stored: StoredEntry?
        do {
            stored = try await pool.read { db in try Self.fetchEntry(key, db) }
        } catch {
            throw storeError(error)
        }
        guard let stored else { return nil }
        let now = tuning.now()
        if now - stored.accessedAt >= tuning.touchInterval {
            state.withLock { state in
                if state.touches.count < state.pending.capacity || state.touches[key] != nil {
                    state.touches[key] = now
                }
            }
        }
        return stored.entry
    }

    public func put(_ key: CacheKey, _ entry: CacheEntry) async throws {
        let fits = key.byteCount + entry.value.count <= maxBytes && entry.value.count <= Self.largestValue
        let now = tuning.now()
        let idleFlusher = try state.withLock { state throws(CacheStoreError) in
            guard state.lifecycle == .open else { throw closedError }
            // An over-large entry is not stored, and must not leave an older answer under its key.
            state.pending.insert(key, fits ? entry : nil, acceptedAt: now)
            return state.idleFlusher.take()
        }
        idleFlusher?.resume()
    }

    public func addCounters(_ counters: [CacheCounterKey: CacheCounters]) async throws {
        try checkOpen()
        guard !counters.isEmpty else { return }
        do {
            try await pool.write { db in
                let statement = try db.cachedStatement(sql: """
                    INSERT INTO counters (chain, method, hits, misses, stale) VALUES (?, ?, ?, ?, ?)
                    ON CONFLICT (chain, method) DO UPDATE SET
                        hits = hits + excluded.hits, misses = misses + excluded.misses, stale = stale + excluded.stale
                    """)
                for (key, counts) in counters {
                    try statement.execute(arguments: [key.chain, key.method, counts.hits, counts.misses, counts.stale])
                }
            }
        } catch {
            throw storeError(error)
        }
    }

    public func statistics(chain: String?) async throws -> CacheStatistics {
        try checkOpen()
        do {
            // Flush first, so that the totals include every write accepted so far.
            try await writeFlushing { _ in }
            return try await pool.read { db in try Self.readStatistics(chain: chain, db) }
        } catch {
            throw storeError(error)
        }
    }

    public func purge(chain: String?, method: String?) async throws -> Int {
        try checkOpen()
        var conditions: [String] = []
        var arguments: StatementArguments = []
        if let chain {
            conditions.append("chain = ?")
            arguments += [chain]
        }
        if let method {
            conditions.append("method = ?")
            arguments += [method]
        }
        let filter = conditions.isEmpty ? "" : " WHERE " + conditions.joined(separator: " AND ")
        // In the flush's transaction: pending writes in scope are written, then deleted with the rest.
        do {
            return try await writeFlushing { [arguments] db in
                try db.execute(sql: "DELETE FROM entries" + filter, arguments: arguments)
                let removed = db.changesCount
                try db.execute(sql: "DELETE FROM counters" + filter, arguments: arguments)
                return removed
            }
        } catch {
            throw storeError(error)
        }
    }

    public func close() async {
        typealias Flusher = (task: Task<Void, Never>, idle: CheckedContinuation<Void, Never>?)
        let flusher: Flusher? = state.withLock { state in
            guard state.lifecycle == .open, let task = state.flusher.take() else { return nil }
            state.lifecycle = .closing
            return (task, state.idleFlusher.take())
        }
        guard let flusher else { return }
        flusher.idle?.resume()
        // Also ends a retry pause; a flush it interrupts is retried below.
        flusher.task.cancel()
        await flusher.task.value
        do {
            try await writeFlushing { _ in }
        } catch {
            logger.info("could not write the last cached answers", metadata: ["cache.error": "\(error)", "cache.lost": "\(pendingWriteCount)"])
        }
        do {
            // Fold the WAL into the file, so that a closed cache is one self-contained file.
            _ = try await pool.writeWithoutTransaction { db in try db.checkpoint(.truncate) }
        } catch {
            logger.debug("could not checkpoint the SQLite cache", metadata: ["cache.error": "\(CacheStoreError(sqlite: error, path: path))"])
        }
        do {
            try pool.close()
        } catch {
            logger.info("could not close the SQLite cache", metadata: ["cache.error": "\(CacheStoreError(sqlite: error, path: path))"])
        }
        state.withLock { $0.lifecycle = .closed }
        logger.debug("closed SQLite cache", metadata: ["cache.path": "\(path)"])
    }

    // MARK: - Helpers

    /// SQLite refuses values over 1 GB (`SQLITE_MAX_LENGTH`); larger entries are not stored whatever `maxBytes` says.
    static let largestValue = 900_000_000

    private var closedError: CacheStoreError { CacheStoreError(.closed, "the SQLite cache \(path) is closed") }

    private func checkOpen() throws(CacheStoreError) {
        try state.withLock { state throws(CacheStoreError) in
            guard state.lifecycle == .open else { throw closedError }
        }
    }

    /// `error` as the store reports it; any failure after `close()` began is `.closed`.
    func storeError(_ error: any Error) -> CacheStoreError {
        if state.withLock({ $0.lifecycle != .open }) {
            return closedError
        }
        return CacheStoreError(sqlite: error, path: path)
    }
}
