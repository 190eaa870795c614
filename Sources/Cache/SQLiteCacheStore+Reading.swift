import Foundation
import GRDB

// Reads from the file, on GRDB's reader connections.
extension SQLiteCacheStore {
    struct StoredEntry: Sendable {
        var entry: CacheEntry
        var accessedAt: Int64
    }

    static func fetchEntry(_ key: CacheKey, _ db: Database) throws -> StoredEntry? {
        let statement = try db.cachedStatement(
            sql: "SELECT value, stored_at, accessed_at FROM entries WHERE chain = ? AND method = ? AND params = ?"
        )
        let rows = try Row.fetchCursor(statement, arguments: [key.chain, key.method, key.params])
        guard let row = try rows.next() else { return nil }
        let value = try row.withUnsafeData(atIndex: 0) { data in data.map { [UInt8]($0) } ?? [] }
        return StoredEntry(
            entry: CacheEntry(value: value, storedAt: row.integer(1)),
            accessedAt: row.integer(2)
        )
    }

    static func readStatistics(chain: String?, _ db: Database) throws -> CacheStatistics {
        let filter = chain == nil ? "" : " WHERE chain = ?"
        let arguments: StatementArguments = chain.map { [$0] } ?? []
        var usage: [CacheCounterKey: CacheStatistics.Usage] = [:]
        let totals = try Row.fetchCursor(
            db, sql: "SELECT chain, method, count(*), sum(size) FROM entries\(filter) GROUP BY chain, method",
            arguments: arguments
        )
        while let row = try totals.next() {
            let key = CacheCounterKey(chain: row.text(0), method: row.text(1))
            usage[key] = CacheStatistics.Usage(entries: Int(row.integer(2)), bytes: Int(row.integer(3)))
        }
        var counters: [CacheCounterKey: CacheCounters] = [:]
        let counts = try Row.fetchCursor(
            db, sql: "SELECT chain, method, hits, misses, stale FROM counters\(filter)", arguments: arguments
        )
        while let row = try counts.next() {
            let key = CacheCounterKey(chain: row.text(0), method: row.text(1))
            counters[key] = CacheCounters(hits: Int(row.integer(2)), misses: Int(row.integer(3)), stale: Int(row.integer(4)))
        }
        return CacheStatistics(usage: usage, counters: counters)
    }
}

extension Row {
    /// The integer in column `index`, or 0: a damaged file must not crash the gateway.
    func integer(_ index: Int) -> Int64 {
        let value: DatabaseValue = self[index]
        return Int64.fromDatabaseValue(value) ?? 0
    }

    /// The text in column `index`, or "".
    func text(_ index: Int) -> String {
        let value: DatabaseValue = self[index]
        return String.fromDatabaseValue(value) ?? ""
    }
}
