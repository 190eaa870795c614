import Cache
import Foundation

/// `postgres://user[:password]@host[:port]/database[?sslmode=disable|prefer|require]`, parsed.
///
/// Its `description` never shows the password, and parse errors never repeat the URL: it may hold one.
struct PostgresConnectionURL: Sendable, Equatable, CustomStringConvertible {
    enum TLSMode: String, Sendable {
        case disable, prefer, require
    }

    var host: String
    var port: Int
    var username: String
    var password: String?
    var database: String
    var tlsMode: TLSMode

    init(_ text: String) throws(CacheStoreError) {
        func invalid(_ why: String) -> CacheStoreError {
            CacheStoreError(.other, "invalid PostgreSQL URL (\(why)); expected postgres://user[:password]@host[:port]/database")
        }
        guard let components = URLComponents(string: text) else { throw invalid("not a URL") }
        guard let scheme = components.scheme?.lowercased(), scheme == "postgres" || scheme == "postgresql" else {
            throw invalid("the scheme must be postgres:// or postgresql://")
        }
        guard let user = components.user, !user.isEmpty else { throw invalid("no user name") }
        guard var host = components.host, !host.isEmpty else { throw invalid("no host") }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        // URLComponents rejects ports outside 0...65535 already; 0 is no port to connect to.
        if let port = components.port, port == 0 { throw invalid("port 0") }
        let database = String(components.path.drop { $0 == "/" })
        guard !database.isEmpty, !database.contains("/") else { throw invalid("no database name after the host") }

        var tlsMode = TLSMode.prefer
        for item in components.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                guard let value = item.value, let mode = TLSMode(rawValue: value) else {
                    throw invalid("sslmode must be disable, prefer or require")
                }
                tlsMode = mode
            default:
                throw invalid("unknown parameter \(item.name.debugDescription)")
            }
        }

        self.host = host
        self.port = components.port ?? 5432
        self.username = components.user?.removingPercentEncoding ?? user
        self.password = components.password.map { $0.removingPercentEncoding ?? $0 }
        self.database = database.removingPercentEncoding ?? database
        self.tlsMode = tlsMode
    }

    /// The URL without its password, for logs.
    var description: String {
        let shownHost = host.contains(":") ? "[\(host)]" : host
        return "postgres://\(username)\(password == nil ? "" : ":***")@\(shownHost):\(port)/\(database)"
    }
}
