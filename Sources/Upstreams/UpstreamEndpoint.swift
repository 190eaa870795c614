/// Where an upstream listens, parsed once from its configured URL.
public struct UpstreamEndpoint: Sendable, Equatable {
    public var isTLS: Bool
    public var host: String
    public var port: Int
    /// Path and query sent in the request line, e.g. `/v3/<key>`.
    public var path: String

    /// Parses `http://host[:port][/path]` or `https://…`.
    public init(url: String) throws(UpstreamTransportError) {
        let lowered = url.lowercased()
        let rest: Substring
        if lowered.hasPrefix("http://") {
            isTLS = false
            rest = url.dropFirst(7)
        } else if lowered.hasPrefix("https://") {
            isTLS = true
            rest = url.dropFirst(8)
        } else {
            throw UpstreamTransportError(.invalidURL, "upstream URL must start with http:// or https://")
        }
        let authority = rest.prefix { $0 != "/" && $0 != "?" }
        let remainder = rest.dropFirst(authority.count)
        path = remainder.isEmpty ? "/" : (remainder.first == "?" ? "/" + remainder : String(remainder))
        let hostPort = authority.split(separator: "@").last.map(String.init) ?? ""
        if hostPort.hasPrefix("[") {
            // IPv6 literal: [::1]:8545
            guard let close = hostPort.firstIndex(of: "]") else { throw UpstreamTransportError(.invalidURL, "unterminated IPv6 address in upstream URL") }
            host = String(hostPort[hostPort.index(after: hostPort.startIndex)..<close])
            let after = hostPort[hostPort.index(after: close)...]
            if after.hasPrefix(":") {
                guard let p = Int(after.dropFirst()), (1...65_535).contains(p) else { throw UpstreamTransportError(.invalidURL, "invalid port in upstream URL") }
                port = p
            } else {
                port = isTLS ? 443 : 80
            }
        } else if let colon = hostPort.lastIndex(of: ":") {
            host = String(hostPort[..<colon])
            guard let p = Int(hostPort[hostPort.index(after: colon)...]), (1...65_535).contains(p) else {
                throw UpstreamTransportError(.invalidURL, "invalid port in upstream URL")
            }
            port = p
        } else {
            host = hostPort
            port = isTLS ? 443 : 80
        }
        guard !host.isEmpty else { throw UpstreamTransportError(.invalidURL, "upstream URL has no host") }
    }

    /// Value of the `Host` header.
    var hostHeader: String {
        let defaultPort = isTLS ? 443 : 80
        let name = host.contains(":") ? "[\(host)]" : host
        return port == defaultPort ? name : "\(name):\(port)"
    }
}

/// Why an upstream call failed, classified so that health tracking and retries can act on it.
public struct UpstreamTransportError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        case invalidURL
        /// Nothing listens (connection refused, host unreachable).
        case connectionRefused
        /// The TCP or TLS connection was not established in time.
        case connectTimeout
        /// Connected, but no complete answer within the attempt's deadline.
        case timeout
        /// The connection closed before a complete answer.
        case connectionClosed
        case tls
        /// The bytes received are not a valid HTTP response.
        case invalidResponse
        /// The answer is larger than the configured limit.
        case responseTooLarge
        /// The transport was shut down.
        case shutdown
        /// The caller stopped waiting (e.g. a hedge answered first).
        case cancelled
    }

    public let kind: Kind
    /// One line for logs and for `data.attempts`; never contains the upstream's URL or credentials.
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}
