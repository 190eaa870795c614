import GRDB

extension CacheStoreError {
    /// A GRDB or SQLite failure as the cache reports it. The message names the file and SQLite's
    /// reason, never the statement's arguments (they hold cached values).
    init(sqlite error: any Error, path: String) {
        switch error {
        case let error as CacheStoreError:
            self = error
        case let error as DatabaseError:
            let reason = error.message ?? "SQLite error \(error.resultCode.rawValue)"
            switch error.resultCode {
            case .SQLITE_NOTADB:
                self.init(.incompatible, "\(path) is not a SQLite database")
            case .SQLITE_CORRUPT:
                self.init(.incompatible, "\(path) is corrupt: \(reason)")
            case .SQLITE_CANTOPEN:
                self.init(.unavailable, "cannot open \(path): \(reason)")
            case .SQLITE_READONLY, .SQLITE_PERM, .SQLITE_AUTH:
                self.init(.unavailable, "\(path) is not writable: \(reason)")
            case .SQLITE_FULL:
                self.init(.unavailable, "the disk holding \(path) is full")
            case .SQLITE_IOERR:
                self.init(.unavailable, "I/O error on \(path): \(reason)")
            case .SQLITE_BUSY, .SQLITE_LOCKED:
                self.init(.unavailable, "\(path) is locked by another connection: \(reason)")
            default:
                self.init(.other, "SQLite error on \(path): \(reason)")
            }
        case is CancellationError:
            self.init(.other, "the cache operation on \(path) was cancelled")
        default:
            self.init(.other, "\(path): \(error)")
        }
    }
}
