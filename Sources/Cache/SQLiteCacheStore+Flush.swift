import Foundation
import GRDB
import Logging
import Synchronization

extension SQLiteCacheStore {
    /// The background flusher: sleeps until writes arrive, lets a batch gather for up to
    /// `flushInterval` (or until `flushBatchSize` writes wait), and writes it in one transaction.
    /// Ends when `close()` begins; `close()` writes what is left.
    func runFlusher() async {
        while await nextBatchIsDue() {
            do {
                try await writeFlushing { _ in }
                reportDroppedWrites()
            } catch {
                // Closing cancels this task, which may interrupt a flush: `close()` writes what is left.
                guard state.withLock({ $0.lifecycle == .open }) else { return }
                // The writes stay pending (bounded) and `get` keeps answering from them.
                logger.info("could not write cached answers; retrying", metadata: ["cache.error": "\(error)"])
                try? await Task.sleep(for: tuning.retryDelay)
            }
        }
    }

    /// Waits until unwritten writes exist and their batch is due; false when the store is closing.
    private func nextBatchIsDue() async -> Bool {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let wakeNow = state.withLock { state in
                guard state.lifecycle == .open, !state.pending.hasUnbatchedWrites else { return true }
                state.idleFlusher = continuation
                return false
            }
            if wakeNow {
                continuation.resume()
            }
        }
        let deadline = ContinuousClock.now.advanced(by: tuning.flushInterval)
        let batchSize = tuning.flushBatchSize
        while true {
            let (isOpen, batchIsFull) = state.withLock { ($0.lifecycle == .open, $0.pending.count >= batchSize) }
            guard isOpen else { return false }
            let remaining = ContinuousClock.now.duration(to: deadline)
            if batchIsFull || remaining <= .zero {
                return true
            }
            try? await Task.sleep(for: min(remaining, .milliseconds(5)))
        }
    }

    /// In one write transaction: writes every pending write, refreshes due access times, evicts
    /// down to the bound, then runs `body`. Pending writes stay visible to `get` until committed.
    func writeFlushing<T: Sendable>(_ body: @Sendable (Database) throws -> T) async throws(CacheStoreError) -> T {
        do {
            let (batch, result) = try await pool.write { db in
                let (batch, touches) = self.state.withLock { state in
                    let touches = state.touches
                    state.touches = [:]
                    return (state.pending.makeBatch(), touches)
                }
                try Self.write(batch, db)
                try Self.refreshAccessTimes(touches, db)
                try self.evictIfNeeded(db)
                return (batch, try body(db))
            }
            state.withLock { $0.pending.committed(batch) }
            return result
        } catch {
            state.withLock { $0.pending.flushFailed() }
            throw CacheStoreError(sqlite: error, path: path)
        }
    }

    private static func write(_ batch: PendingWrites.Batch, _ db: Database) throws {
        guard !batch.isEmpty else { return }
        // `ifnull`: GRDB binds an empty blob as NULL.
        let upsert = try db.cachedStatement(sql: """
            INSERT INTO entries (chain, method, params, value, stored_at, accessed_at, size)
            VALUES (?, ?, ?, ifnull(?, x''), ?, ?, ?)
            ON CONFLICT (chain, method, params) DO UPDATE SET
                value = excluded.value, stored_at = excluded.stored_at,
                accessed_at = excluded.accessed_at, size = excluded.size
            """)
        let delete = try db.cachedStatement(sql: "DELETE FROM entries WHERE chain = ? AND method = ? AND params = ?")
        for (key, write) in batch {
            if let entry = write.entry {
                try upsert.execute(arguments: [
                    key.chain, key.method, key.params, Data(entry.value), entry.storedAt, write.acceptedAt,
                    key.byteCount + entry.value.count,
                ])
            } else {
                try delete.execute(arguments: [key.chain, key.method, key.params])
            }
        }
    }

    private static func refreshAccessTimes(_ touches: [CacheKey: Int64], _ db: Database) throws {
        guard !touches.isEmpty else { return }
        let touch = try db.cachedStatement(sql: """
            UPDATE entries SET accessed_at = ?
            WHERE chain = ? AND method = ? AND params = ? AND accessed_at < ?
            """)
        for (key, accessedAt) in touches {
            try touch.execute(arguments: [accessedAt, key.chain, key.method, key.params, accessedAt])
        }
    }

    /// When the entries' bytes exceed `maxBytes`, deletes the least recently accessed ones until
    /// they fit in 90 % of it, so that eviction runs once per many writes rather than on each.
    private func evictIfNeeded(_ db: Database) throws {
        let bytes = try Int.fetchOne(db, sql: "SELECT bytes FROM usage") ?? 0
        guard bytes > maxBytes else { return }
        let target = maxBytes - maxBytes / 10
        let victims = try Self.leastRecentlyAccessed(freeing: bytes - target, db)
        let delete = try db.cachedStatement(sql: "DELETE FROM entries WHERE rowid = ?")
        for rowid in victims {
            try delete.execute(arguments: [rowid])
        }
        logger.debug("evicted cached answers", metadata: [
            "cache.evicted": "\(victims.count)", "cache.bytes": "\(bytes)", "cache.max_bytes": "\(maxBytes)",
        ])
    }

    /// Row ids of the least recently accessed entries (oldest first) whose sizes add up to `excess`.
    private static func leastRecentlyAccessed(freeing excess: Int, _ db: Database) throws -> [Int64] {
        var remaining = excess
        var victims: [Int64] = []
        let candidates = try Row.fetchCursor(db, sql: "SELECT rowid, size FROM entries ORDER BY accessed_at, rowid")
        while remaining > 0, let row = try candidates.next() {
            victims.append(row.integer(0))
            remaining -= Int(row.integer(1))
        }
        return victims
    }

    private func reportDroppedWrites() {
        let dropped = state.withLock { state in
            defer { state.reportedDrops = state.pending.dropped }
            return state.pending.dropped - state.reportedDrops
        }
        if dropped > 0 {
            logger.info("the cache write buffer was full; dropped the oldest writes", metadata: ["cache.dropped": "\(dropped)"])
        }
    }
}
