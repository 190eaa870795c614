import Cache
import Logging
import PostgresNIO

/// The store's two tables and every statement it runs against them.
///
/// `bulwark_cache_entries` holds one row per key with its size (key and value bytes, what the
/// size bound counts); `bulwark_cache_counters` holds hit/miss/stale totals per chain and method,
/// added to by every gateway that shares the database.
enum CacheTables {
    /// Rows per multi-row upsert; 6 parameters each stays far below PostgreSQL's 65,535.
    static let rowsPerStatement = 500

    /// Any constant shared by all gateways: serialises schema creation (see `ensureSchema`).
    private static let schemaLockKey: Int64 = 0x6275_6C77_6172_6B43  // "bulwarkC"

    /// Creates the tables if needed and checks that they have the columns this version uses.
    ///
    /// Two `CREATE TABLE IF NOT EXISTS` racing each other can still fail on PostgreSQL's catalog
    /// (a unique violation on `pg_type`), so gateways starting at once take an advisory lock first.
    static func ensureSchema(_ connection: PostgresConnection, logger: Logger) async throws {
        try await connection.withTransaction(logger: logger) { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(\(schemaLockKey))", logger: logger).consume()
            try await connection.query(
                """
                CREATE TABLE IF NOT EXISTS bulwark_cache_entries (
                    chain text NOT NULL,
                    method text NOT NULL,
                    params text NOT NULL,
                    value bytea NOT NULL,
                    stored_at bigint NOT NULL,
                    size integer NOT NULL,
                    PRIMARY KEY (chain, method, params)
                )
                """,
                logger: logger
            ).consume()
            try await connection.query(
                "CREATE INDEX IF NOT EXISTS bulwark_cache_entries_stored_at ON bulwark_cache_entries (stored_at)",
                logger: logger
            ).consume()
            try await connection.query(
                """
                CREATE TABLE IF NOT EXISTS bulwark_cache_counters (
                    chain text NOT NULL,
                    method text NOT NULL,
                    hits bigint NOT NULL DEFAULT 0,
                    misses bigint NOT NULL DEFAULT 0,
                    stale bigint NOT NULL DEFAULT 0,
                    PRIMARY KEY (chain, method)
                )
                """,
                logger: logger
            ).consume()
        }
        do {
            try await connection.query(
                "SELECT chain, method, params, value, stored_at, size FROM bulwark_cache_entries LIMIT 0",
                logger: logger
            ).consume()
            try await connection.query(
                "SELECT chain, method, hits, misses, stale FROM bulwark_cache_counters LIMIT 0",
                logger: logger
            ).consume()
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "42703" {
            throw CacheStoreError(
                .incompatible,
                "the tables bulwark_cache_entries / bulwark_cache_counters exist with other columns than this version uses"
            )
        }
    }

    static func fetch(_ key: CacheKey, _ client: PostgresClient, logger: Logger) async throws -> CacheEntry? {
        let rows = try await client.query(
            """
            SELECT value, stored_at FROM bulwark_cache_entries
            WHERE chain = \(key.chain) AND method = \(key.method) AND params = \(key.params)
            """,
            logger: logger
        )
        var found: CacheEntry?
        for try await (value, storedAt) in rows.decode((ByteBuffer, Int64).self) {
            found = CacheEntry(value: Array(value.readableBytesView), storedAt: storedAt)
        }
        return found
    }

    /// Inserts or replaces the entries (at most `rowsPerStatement`), in one statement.
    static func upsert(_ entries: ArraySlice<(key: CacheKey, entry: CacheEntry)>, _ client: PostgresClient, logger: Logger) async throws {
        guard !entries.isEmpty else { return }
        var sql = "INSERT INTO bulwark_cache_entries (chain, method, params, value, stored_at, size) VALUES "
        var binds = PostgresBindings(capacity: entries.count * 6)
        for (index, (key, entry)) in entries.enumerated() {
            let first = index * 6
            if index > 0 { sql += ", " }
            sql += "($\(first + 1), $\(first + 2), $\(first + 3), $\(first + 4), $\(first + 5), $\(first + 6))"
            binds.append(key.chain)
            binds.append(key.method)
            binds.append(key.params)
            binds.append(ByteBuffer(bytes: entry.value))
            binds.append(entry.storedAt)
            binds.append(Int32(clamping: WriteBuffer.size(key, entry)))
        }
        sql += """
             ON CONFLICT (chain, method, params) DO UPDATE
            SET value = EXCLUDED.value, stored_at = EXCLUDED.stored_at, size = EXCLUDED.size
            """
        try await client.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger).consume()
    }

    /// Adds the increments to the shared totals, creating rows as needed.
    static func addCounters(_ counters: [CacheCounterKey: CacheCounters], _ client: PostgresClient, logger: Logger) async throws {
        guard !counters.isEmpty else { return }
        let sorted = counters.sorted { ($0.key.chain, $0.key.method) < ($1.key.chain, $1.key.method) }
        for start in stride(from: 0, to: sorted.count, by: rowsPerStatement) {
            let chunk = sorted[start..<min(start + rowsPerStatement, sorted.count)]
            var sql = "INSERT INTO bulwark_cache_counters (chain, method, hits, misses, stale) VALUES "
            var binds = PostgresBindings(capacity: chunk.count * 5)
            for (index, (key, increment)) in chunk.enumerated() {
                let first = index * 5
                if index > 0 { sql += ", " }
                sql += "($\(first + 1), $\(first + 2), $\(first + 3), $\(first + 4), $\(first + 5))"
                binds.append(key.chain)
                binds.append(key.method)
                binds.append(Int64(increment.hits))
                binds.append(Int64(increment.misses))
                binds.append(Int64(increment.stale))
            }
            sql += """
                 ON CONFLICT (chain, method) DO UPDATE SET
                hits = bulwark_cache_counters.hits + EXCLUDED.hits,
                misses = bulwark_cache_counters.misses + EXCLUDED.misses,
                stale = bulwark_cache_counters.stale + EXCLUDED.stale
                """
            try await client.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger).consume()
        }
    }

    static func statistics(chain: String?, _ client: PostgresClient, logger: Logger) async throws -> CacheStatistics {
        struct Totals {
            var entries = 0
            var bytes = 0
            var counters = CacheCounters()
        }
        var methods: [CacheCounterKey: Totals] = [:]
        let entryRows = try await client.query(
            """
            SELECT chain, method, COUNT(*)::int8, COALESCE(SUM(size), 0)::int8 FROM bulwark_cache_entries
            WHERE \(chain)::text IS NULL OR chain = \(chain)::text
            GROUP BY chain, method
            """,
            logger: logger
        )
        for try await (rowChain, method, entries, bytes) in entryRows.decode((String, String, Int64, Int64).self) {
            methods[CacheCounterKey(chain: rowChain, method: method), default: Totals()].entries = Int(entries)
            methods[CacheCounterKey(chain: rowChain, method: method), default: Totals()].bytes = Int(bytes)
        }
        let counterRows = try await client.query(
            """
            SELECT chain, method, hits, misses, stale FROM bulwark_cache_counters
            WHERE \(chain)::text IS NULL OR chain = \(chain)::text
            """,
            logger: logger
        )
        for try await (rowChain, method, hits, misses, stale) in counterRows.decode((String, String, Int64, Int64, Int64).self) {
            methods[CacheCounterKey(chain: rowChain, method: method), default: Totals()].counters =
                CacheCounters(hits: Int(hits), misses: Int(misses), stale: Int(stale))
        }
        return CacheStatistics(
            methods: methods.map { key, totals in
                CacheStatistics.Method(
                    chain: key.chain,
                    method: key.method,
                    entries: totals.entries,
                    bytes: totals.bytes,
                    counters: totals.counters
                )
            }
        )
    }

    /// Deletes entries and counters of `chain` / `method` (nil: all) in one transaction; returns the entries deleted.
    static func purge(chain: String?, method: String?, _ client: PostgresClient, logger: Logger) async throws -> Int {
        try await client.withTransaction(logger: logger) { connection in
            let rows = try await connection.query(
                """
                WITH deleted AS (
                    DELETE FROM bulwark_cache_entries
                    WHERE (\(chain)::text IS NULL OR chain = \(chain)::text)
                      AND (\(method)::text IS NULL OR method = \(method)::text)
                    RETURNING 1
                )
                SELECT COUNT(*)::int8 FROM deleted
                """,
                logger: logger
            )
            var deleted = 0
            for try await count in rows.decode(Int64.self) {
                deleted = Int(count)
            }
            try await connection.query(
                """
                DELETE FROM bulwark_cache_counters
                WHERE (\(chain)::text IS NULL OR chain = \(chain)::text)
                  AND (\(method)::text IS NULL OR method = \(method)::text)
                """,
                logger: logger
            ).consume()
            return deleted
        }
    }

    /// When the entries take more than `maxBytes`, deletes the oldest (by `stored_at`) until they
    /// take at most `targetBytes`; returns how many were deleted. One statement: the newest entries
    /// are kept while their running total stays within the target.
    static func evict(maxBytes: Int, targetBytes: Int, _ client: PostgresClient, logger: Logger) async throws -> Int {
        var total: Int64 = 0
        for try await bytes in try await client.query(
            "SELECT COALESCE(SUM(size), 0)::int8 FROM bulwark_cache_entries",
            logger: logger
        ).decode(Int64.self) {
            total = bytes
        }
        guard total > maxBytes else { return 0 }
        let rows = try await client.query(
            """
            WITH ranked AS (
                SELECT chain, method, params,
                       SUM(size) OVER (ORDER BY stored_at DESC, chain, method, params ROWS UNBOUNDED PRECEDING) AS newer_bytes
                FROM bulwark_cache_entries
            ), deleted AS (
                DELETE FROM bulwark_cache_entries AS e USING ranked AS r
                WHERE e.chain = r.chain AND e.method = r.method AND e.params = r.params
                  AND r.newer_bytes > \(Int64(targetBytes))
                RETURNING 1
            )
            SELECT COUNT(*)::int8 FROM deleted
            """,
            logger: logger
        )
        var deleted = 0
        for try await count in rows.decode(Int64.self) {
            deleted = Int(count)
        }
        return deleted
    }
}

extension PostgresRowSequence {
    /// Reads and drops the rows, so that the connection goes back to the pool.
    func consume() async throws {
        for try await _ in self {}
    }
}
