import Foundation
import GRDB

/// The cache file's layout. One version, recorded in `PRAGMA user_version`; a file with another
/// version, or another application's tables, is refused as `.incompatible` rather than altered.
enum SQLiteCacheSchema {
    static let version = 1
    /// `PRAGMA application_id` of cache files: "BWKC".
    static let applicationID = 0x4257_4B43

    static let statements = [
        """
        CREATE TABLE entries (
            chain TEXT NOT NULL,
            method TEXT NOT NULL,
            params TEXT NOT NULL,
            value BLOB NOT NULL,
            stored_at INTEGER NOT NULL,   -- ms since the Unix epoch, when the upstream answered
            accessed_at INTEGER NOT NULL, -- ms since the Unix epoch, last write or (lazily) read
            size INTEGER NOT NULL,        -- key and value bytes, counted against the bound
            PRIMARY KEY (chain, method, params)
        ) STRICT
        """,
        // Eviction takes the least recently accessed entries first.
        "CREATE INDEX entries_by_access ON entries (accessed_at)",
        """
        CREATE TABLE counters (
            chain TEXT NOT NULL,
            method TEXT NOT NULL,
            hits INTEGER NOT NULL,
            misses INTEGER NOT NULL,
            stale INTEGER NOT NULL,
            PRIMARY KEY (chain, method)
        ) STRICT
        """,
        // The sum of `entries.size`, kept by triggers so that checking the bound costs no scan.
        "CREATE TABLE usage (id INTEGER PRIMARY KEY CHECK (id = 1), bytes INTEGER NOT NULL) STRICT",
        "INSERT INTO usage (id, bytes) VALUES (1, 0)",
        "CREATE TRIGGER entries_inserted AFTER INSERT ON entries BEGIN UPDATE usage SET bytes = bytes + NEW.size; END",
        "CREATE TRIGGER entries_deleted AFTER DELETE ON entries BEGIN UPDATE usage SET bytes = bytes - OLD.size; END",
        """
        CREATE TRIGGER entries_resized AFTER UPDATE OF size ON entries
        BEGIN UPDATE usage SET bytes = bytes - OLD.size + NEW.size; END
        """,
        "PRAGMA application_id = \(applicationID)",
        "PRAGMA user_version = \(version)",
    ]

    /// Creates the schema in a new file, or checks that an existing file has this version's schema.
    /// In an immediate transaction, so that two gateways opening a new file do not both create it.
    static func prepare(_ db: Database, path: String) throws {
        try db.inTransaction(.immediate) {
            try checkOrCreate(db, path: path)
            return .commit
        }
    }

    private static func checkOrCreate(_ db: Database, path: String) throws {
        let applicationID = try Int.fetchOne(db, sql: "PRAGMA application_id") ?? 0
        let version = try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0
        guard applicationID == 0 || applicationID == Self.applicationID else {
            throw CacheStoreError(
                .incompatible, "\(path) belongs to another application (SQLite application_id \(applicationID))"
            )
        }
        switch version {
        case Self.version:
            for table in ["entries", "counters", "usage"] where try !db.tableExists(table) {
                throw CacheStoreError(.incompatible, "\(path) claims cache schema version \(version) but has no \(table) table")
            }
        case 0:
            let objects = try Int.fetchOne(db, sql: "SELECT count(*) FROM sqlite_master") ?? 0
            guard objects == 0 else {
                throw CacheStoreError(
                    .incompatible, "\(path) is a SQLite database but not a Bulwark cache (it has other tables and no cache schema)"
                )
            }
            for statement in statements {
                try db.execute(sql: statement)
            }
        default:
            let newer = version > Self.version ? "a newer" : "an unknown"
            throw CacheStoreError(
                .incompatible,
                "\(path) has cache schema version \(version), from \(newer) Bulwark; this one reads version \(Self.version)"
            )
        }
    }

    /// Checks that the file can be created or written, with messages that say what to fix;
    /// creates the directory when missing.
    static func prepareDirectory(for path: String) throws(CacheStoreError) {
        guard !path.isEmpty else {
            throw CacheStoreError(.other, "the SQLite cache path is empty")
        }
        let files = FileManager.default
        var isDirectory: ObjCBool = false
        let exists = files.fileExists(atPath: path, isDirectory: &isDirectory)
        if exists, isDirectory.boolValue {
            throw CacheStoreError(.unavailable, "\(path) is a directory, not a cache file")
        }
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        do {
            try files.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw CacheStoreError(.unavailable, "cannot create the cache directory \(directory): \(error.localizedDescription)")
        }
        guard files.isWritableFile(atPath: directory) else {
            throw CacheStoreError(
                .unavailable, "the cache directory \(directory) is not writable (SQLite keeps -wal and -shm files next to the cache)"
            )
        }
        if exists, !files.isWritableFile(atPath: path) {
            throw CacheStoreError(.unavailable, "the cache file \(path) is not writable")
        }
    }
}
