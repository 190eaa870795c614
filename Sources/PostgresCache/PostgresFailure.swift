import Cache
import PostgresNIO

/// What a failed database call means for the store.
enum PostgresFailure: Sendable, Equatable {
    /// The database cannot be reached or cannot serve (refused, timed out, shutting down, tables
    /// missing, authentication): the store fails fast until a probe succeeds.
    case unavailable(String)
    /// The caller's task was cancelled; says nothing about the database.
    case cancelled
    /// This statement failed (a constraint, a data error); the database itself is fine.
    case statement(String)

    init(_ error: any Error) {
        switch error {
        case let deadline as DeadlineExceeded:
            self = .unavailable("no answer within \(deadline.timeout.formattedMilliseconds)")
        case is CancellationError:
            self = .cancelled
        case let error as CacheStoreError:
            self = error.kind == .unavailable ? .unavailable(error.message) : .statement(error.message)
        case let error as PSQLError:
            self = Self(error)
        default:
            // Pool and channel errors (connection refused, circuit breaker open, pool shut down).
            self = .unavailable(Self.shortDescription(of: error))
        }
    }

    private init(_ error: PSQLError) {
        guard error.code == .server, let sqlState = error.serverInfo?[.sqlState] else {
            if error.code == .queryCancelled {
                self = .cancelled
                return
            }
            // Connection-level failures; the underlying NIO error says which (refused, reset, TLS).
            let underlying = error.underlying.map { ": \(Self.shortDescription(of: $0))" } ?? ""
            self = .unavailable("\(error.code)\(underlying)")
            return
        }
        let message = "SQLSTATE \(sqlState): \(error.serverInfo?[.message] ?? "no message")"
        // Data exceptions, integrity constraints, serialization failures and deadlocks, syntax and
        // access rules are this statement's problem. An undefined table (42P01) is not: the schema is
        // gone, and the probe that ends the outage creates it again.
        let statementClasses: Set<Substring> = ["22", "23", "40", "42"]
        if statementClasses.contains(sqlState.prefix(2)), sqlState != "42P01" {
            self = .statement(message)
        } else {
            self = .unavailable(message)
        }
    }

    /// The error callers get.
    var storeError: any Error {
        switch self {
        case .unavailable(let reason): CacheStoreError(.unavailable, "PostgreSQL cache unavailable: \(reason)")
        case .cancelled: CancellationError()
        case .statement(let reason): CacheStoreError(.other, "PostgreSQL cache statement failed: \(reason)")
        }
    }

    private static func shortDescription(of error: any Error) -> String {
        let text = String(describing: error)
        return text.count > 200 ? String(text.prefix(200)) + "…" : text
    }
}

extension Duration {
    var formattedMilliseconds: String {
        let (seconds, attoseconds) = components
        return "\(seconds * 1000 + attoseconds / 1_000_000_000_000_000) ms"
    }
}
