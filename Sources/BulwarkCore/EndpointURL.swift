/// The parts of an absolute URL (`scheme://[userinfo@]host[:port][/path][?query][#fragment]`)
/// that configuration checks and redaction need. A small strict reader, so that what is
/// accepted and what is hidden does not depend on a platform URL parser.
struct EndpointURL: Equatable {
    var scheme: String
    var userinfo: Substring?
    var host: Substring
    var port: Int?
    var path: Substring
    var query: Substring?
    var fragment: Substring?

    enum Problem: Error, Equatable {
        case noScheme
        case noHost
        case badPort
        case whitespace

        /// Describes the problem without repeating the URL (which may hold a key).
        var message: String {
            switch self {
            case .noScheme: "is not an absolute URL (scheme://host...)"
            case .noHost: "has no host"
            case .badPort: "has a port that is not a number from 1 to 65535"
            case .whitespace: "contains whitespace"
            }
        }
    }

    static func parse(_ text: String) -> Result<EndpointURL, Problem> {
        if text.contains(where: \.isWhitespace) { return .failure(.whitespace) }
        guard let separator = text.firstRange(of: "://") else { return .failure(.noScheme) }
        let scheme = text[..<separator.lowerBound]
        guard let first = scheme.first, first.isLetter, first.isASCII,
              scheme.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "+.-".contains($0)) })
        else { return .failure(.noScheme) }

        var rest = text[separator.upperBound...]
        var fragment: Substring?
        if let hash = rest.firstIndex(of: "#") {
            fragment = rest[rest.index(after: hash)...]
            rest = rest[..<hash]
        }
        var query: Substring?
        if let mark = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: mark)...]
            rest = rest[..<mark]
        }
        let authorityEnd = rest.firstIndex(of: "/") ?? rest.endIndex
        var authority = rest[..<authorityEnd]
        let path = rest[authorityEnd...]

        var userinfo: Substring?
        if let at = authority.lastIndex(of: "@") {
            userinfo = authority[..<at]
            authority = authority[authority.index(after: at)...]
        }
        var host = authority
        var portText: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return .failure(.noHost) }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { return .failure(.badPort) }
                portText = after.dropFirst()
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = authority[..<colon]
            portText = authority[authority.index(after: colon)...]
        }
        guard !host.isEmpty else { return .failure(.noHost) }
        var port: Int?
        if let portText {
            guard !portText.isEmpty, portText.allSatisfy(\.isASCIIDigit),
                  let value = Int(portText), (1...65_535).contains(value)
            else { return .failure(.badPort) }
            port = value
        }
        return .success(EndpointURL(scheme: scheme.lowercased(), userinfo: userinfo, host: host, port: port,
                                    path: path, query: query, fragment: fragment))
    }

    /// Whether the host names this machine, for spotting an upstream that is the gateway itself.
    var isLoopbackHost: Bool { Self.isLoopback(host) }

    /// Loopback names and addresses, and the any-address (a server listening there answers on loopback too).
    static func isLoopback(_ host: some StringProtocol) -> Bool {
        let lowered = host.lowercased()
        return lowered == "localhost" || lowered == "::1" || lowered == "::" || lowered == "0.0.0.0" || lowered.hasPrefix("127.")
    }

    /// The port in use, the scheme's default when none is written.
    var effectivePort: Int? {
        if let port { return port }
        switch scheme {
        case "http", "ws": return 80
        case "https", "wss": return 443
        default: return nil
        }
    }
}

/// Hides the credentials in endpoint URLs so they can be logged, shown on the dashboard,
/// or printed in a report.
///
/// What counts as a credential: the user info (`user:password@`), every query value
/// (`?apikey=...`), and path segments that look like keys — 16 or more characters of
/// letters, digits, `-` and `_`, with at least one digit (Infura's `/v3/<key>`,
/// Alchemy's `/v2/<key>`, QuickNode's token, UUIDs). Words such as `eth-mainnet` stay.
public enum URLRedaction {
    /// The placeholder that replaces each hidden part.
    public static let mask = "***"

    public static func redact(_ url: String) -> String {
        guard case .success(let parts) = EndpointURL.parse(url) else {
            // Not a URL we understand: show nothing of it rather than risk showing a key.
            return "<unparseable URL>"
        }
        var out = parts.scheme + "://"
        if parts.userinfo != nil { out += mask + "@" }
        out += parts.host.contains(":") ? "[\(parts.host)]" : String(parts.host)
        if let port = parts.port { out += ":\(port)" }
        out += parts.path.split(separator: "/", omittingEmptySubsequences: false)
            .map { looksLikeKey($0) ? mask : String($0) }
            .joined(separator: "/")
        if let query = parts.query {
            out += "?" + query.split(separator: "&", omittingEmptySubsequences: false).map { item in
                guard let equals = item.firstIndex(of: "=") else { return item.isEmpty ? "" : mask }
                return String(item[..<equals]) + "=" + mask
            }.joined(separator: "&")
        }
        // A fragment is never sent to the server; it is dropped rather than judged.
        return out
    }

    /// A long token of letters and digits, as API keys and access tokens are.
    static func looksLikeKey(_ segment: Substring) -> Bool {
        segment.count >= 16
            && segment.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }
            && segment.contains(where: \.isASCIIDigit)
    }
}
