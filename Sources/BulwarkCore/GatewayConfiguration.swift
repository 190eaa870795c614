import Failsafe

/// The gateway's configuration (SPEC section 2): where it listens, what it caches,
/// who may call it, and the chains it serves with the upstreams behind each.
///
/// Values built in code are not validated; `parse(yaml:environment:)` is the
/// validating way in, and reports every problem with its YAML path.
public struct GatewayConfiguration: Sendable, Equatable {
    public var server: Server
    public var cache: Cache
    /// nil: an open gateway, no API key needed.
    public var auth: Auth?
    public var chains: [Chain]

    public init(server: Server = Server(), cache: Cache = Cache(), auth: Auth? = nil, chains: [Chain]) {
        self.server = server
        self.cache = cache
        self.auth = auth
        self.chains = chains
    }

    /// Every upstream of every chain, in configuration order.
    public var upstreams: [Upstream] { chains.flatMap(\.upstreams) }

    /// The distinct failure domains the upstreams live in.
    public var failureDomains: Set<FailureDomain> { Set(upstreams.map(\.labels)) }

    /// The chain served at `POST /{name}`.
    public func chain(named name: String) -> Chain? {
        chains.first { $0.name == name }
    }
}

// MARK: - Server

extension GatewayConfiguration {
    /// The client-facing HTTP server and the limits it enforces on each request.
    public struct Server: Sendable, Equatable {
        public var listen: ListenAddress
        /// Largest accepted request body; bigger bodies get HTTP 413.
        public var maxBodyBytes: Int
        /// Most calls in one JSON-RPC batch; bigger batches get HTTP 413.
        public var maxBatchSize: Int
        /// Budget for a whole client request, all retries and hedges included.
        public var requestTimeout: Duration
        /// Largest request line and headers together; bigger gets HTTP 431.
        public var maxHeaderBytes: Int
        /// Deepest nesting of arrays and objects in a request body; deeper gets -32700.
        public var maxJsonDepth: Int
        /// A request must arrive whole within this from its first byte; a slower client is cut off (HTTP 408).
        public var readTimeout: Duration
        /// A keep-alive connection with no request for this long is closed.
        public var idleTimeout: Duration
        /// Client connections open at once; more are closed as they arrive.
        public var maxConnections: Int

        public init(
            listen: ListenAddress = ListenAddress(host: "127.0.0.1", port: 8545),
            maxBodyBytes: Int = 1_048_576,
            maxBatchSize: Int = 100,
            requestTimeout: Duration = .seconds(10),
            maxHeaderBytes: Int = 16_384,
            maxJsonDepth: Int = 64,
            readTimeout: Duration = .seconds(10),
            idleTimeout: Duration = .seconds(60),
            maxConnections: Int = 4_096
        ) {
            self.listen = listen
            self.maxBodyBytes = maxBodyBytes
            self.maxBatchSize = maxBatchSize
            self.requestTimeout = requestTimeout
            self.maxHeaderBytes = maxHeaderBytes
            self.maxJsonDepth = maxJsonDepth
            self.readTimeout = readTimeout
            self.idleTimeout = idleTimeout
            self.maxConnections = maxConnections
        }
    }

    /// A `host:port` to listen on. IPv6 hosts are written in brackets (`[::1]:8545`) and kept without them.
    public struct ListenAddress: Sendable, Hashable, CustomStringConvertible {
        public var host: String
        /// 0 asks the system for a free port.
        public var port: Int

        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }

        /// Reads `host:port` or `[v6-host]:port`; nil when it is neither or the port is not 0–65535.
        public init?(parsing text: String) {
            let host: Substring
            let portText: Substring
            if text.hasPrefix("[") {
                guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else { return nil }
                host = text[text.index(after: text.startIndex)..<close]
                portText = text[text.index(close, offsetBy: 2)...]
            } else {
                guard let colon = text.lastIndex(of: ":") else { return nil }
                host = text[..<colon]
                portText = text[text.index(after: colon)...]
                if host.contains(":") { return nil }  // an IPv6 host needs brackets
            }
            guard !host.isEmpty, !host.contains(where: \.isWhitespace),
                  !portText.isEmpty, portText.allSatisfy(\.isASCIIDigit),
                  let port = Int(portText), (0...65_535).contains(port)
            else { return nil }
            self.init(host: String(host), port: port)
        }

        public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
    }
}

// MARK: - Cache

extension GatewayConfiguration {
    /// Where answers that cannot change are kept (SPEC section 6).
    public struct Cache: Sendable, Equatable {
        public enum Store: String, Sendable, CaseIterable {
            /// No caching at all.
            case none
            /// In-process, lost on restart.
            case memory
            /// An embedded SQLite file at `path`: the default, nothing else to run.
            case sqlite
            /// A PostgreSQL database at `url`, shared by several gateway instances.
            case postgres
        }

        public var store: Store
        /// The SQLite database file (store `sqlite`).
        public var path: String
        /// The PostgreSQL connection URL (store `postgres`); may hold a password, so log `redactedURL`.
        public var url: String?
        /// When no upstream can answer, serve a cached answer up to this old; nil: never serve stale answers.
        public var staleIfError: Duration?
        /// Bytes of keys and answers the store may hold; the least recently used go first beyond it.
        public var maxBytes: Int

        /// 256 MiB: a memory store's bound by default.
        public static let defaultMemoryBytes = 268_435_456
        /// 1 GiB: a SQLite or PostgreSQL store's bound by default.
        public static let defaultDatabaseBytes = 1_073_741_824

        public init(store: Store = .sqlite, path: String = "./bulwark-cache.sqlite", url: String? = nil, staleIfError: Duration? = nil,
                    maxBytes: Int? = nil) {
            self.store = store
            self.path = path
            self.url = url
            self.staleIfError = staleIfError
            self.maxBytes = maxBytes ?? (store == .memory ? Self.defaultMemoryBytes : Self.defaultDatabaseBytes)
        }

        /// `url` with any password or token hidden, safe to log.
        public var redactedURL: String? { url.map(URLRedaction.redact) }
    }
}

// MARK: - Auth

extension GatewayConfiguration {
    /// API keys of the gateway's clients; when present, every call needs a known key.
    public struct Auth: Sendable, Equatable {
        /// Grants access to `/admin/*` (fault drills); nil: the admin endpoints are closed.
        public var adminKey: String?
        public var keys: [APIKey]

        public init(adminKey: String? = nil, keys: [APIKey]) {
            self.adminKey = adminKey
            self.keys = keys
        }

        /// The client owning `key`, if any.
        public func apiKey(_ key: String) -> APIKey? {
            keys.first { $0.key == key }
        }
    }

    /// Who is shed last when the gateway is overloaded.
    public typealias Priority = Failsafe.Priority

    /// One client: its secret key, a name to show in logs and metrics instead of the key,
    /// its priority under overload, and its rate limit.
    public struct APIKey: Sendable, Equatable {
        public var key: String
        public var name: String
        public var priority: Priority
        /// Calls per second; nil: no limit.
        public var rps: Double?
        /// Token-bucket size: how many calls may arrive at once. `rps` when not configured.
        public var burst: Double?
        /// Methods this client may call (on top of the chain's own policy); nil: every method the chain allows.
        public var methods: MethodPolicy?

        public init(key: String, name: String, priority: Priority = .normal, rps: Double? = nil, burst: Double? = nil,
                    methods: MethodPolicy? = nil) {
            self.key = key
            self.name = name
            self.priority = priority
            self.rps = rps
            self.burst = burst ?? rps
            self.methods = methods
        }
    }
}

// MARK: - Chains and upstreams

extension GatewayConfiguration {
    /// One chain the gateway serves at `POST /{name}`, and the upstreams that serve it.
    public struct Chain: Sendable, Equatable {
        public enum Kind: String, Sendable, CaseIterable {
            case evm
            case bitcoin
        }

        /// The route: lowercase letters, digits, `-` and `_`.
        public var name: String
        public var kind: Kind
        /// The EIP-155 chain id (EVM chains; 0 for chains without one).
        public var chainId: UInt64
        /// Blocks below the head treated as final when the chain has no `finalized` tag.
        public var finalityDepth: Int
        /// Verified reads (SPEC section 5): off unless the configuration turns them on.
        public var verify: Verification
        /// Which methods clients may call; nil: everything an upstream serves.
        public var methods: MethodPolicy?
        public var upstreams: [Upstream]
        /// An upstream more than this many blocks behind the consensus head is not used for head-dependent calls.
        public var maxLag: Int

        public init(
            name: String,
            kind: Kind = .evm,
            chainId: UInt64,
            finalityDepth: Int = 64,
            verify: Verification = .off,
            methods: MethodPolicy? = nil,
            upstreams: [Upstream],
            maxLag: Int = 4
        ) {
            self.name = name
            self.kind = kind
            self.chainId = chainId
            self.finalityDepth = finalityDepth
            self.verify = verify
            self.methods = methods
            self.upstreams = upstreams
            self.maxLag = maxLag
        }

        /// The distinct failure domains this chain's upstreams live in.
        public var failureDomains: Set<FailureDomain> { Set(upstreams.map(\.labels)) }
    }

    /// How a chain's verified reads (SPEC section 5) work: whether they are on, how many failure
    /// domains must agree on a block hash before its header is trusted, and how long an upstream
    /// caught serving something that fails verification is left out.
    ///
    /// The configuration writes it as `verify: true` / `verify: false` (the defaults otherwise) or as a
    /// block `verify: { enabled, quorumDomains, coolingPeriod }`; code can write `verify: true` too.
    public struct Verification: Sendable, Equatable, ExpressibleByBooleanLiteral {
        /// SPEC section 5: a header is trusted on the word of at least two failure domains.
        public static let minimumQuorumDomains = 2
        public static let defaultQuorumDomains = minimumQuorumDomains
        public static let defaultCoolingPeriod: Duration = .seconds(60)

        /// Verified reads off (the settings are kept at their defaults).
        public static let off = Verification(enabled: false)

        public var enabled: Bool
        /// How many distinct failure domains must return the same hash for a block before its header is trusted.
        public var quorumDomains: Int
        /// How long an upstream caught answering something that fails verification is excluded.
        public var coolingPeriod: Duration

        public init(
            enabled: Bool = true,
            quorumDomains: Int = Verification.defaultQuorumDomains,
            coolingPeriod: Duration = Verification.defaultCoolingPeriod
        ) {
            self.enabled = enabled
            self.quorumDomains = quorumDomains
            self.coolingPeriod = coolingPeriod
        }

        /// `true` or `false` as in `verify: true`: on or off with the default settings.
        public init(booleanLiteral enabled: Bool) {
            self.init(enabled: enabled)
        }
    }

    /// Allow and deny lists of JSON-RPC method names; a pattern may end in `*` (`eth_*`).
    /// Deny wins over allow; without an allow list every method not denied is allowed.
    public struct MethodPolicy: Sendable, Equatable {
        /// nil: every method that is not denied.
        public var allow: [String]?
        public var deny: [String]

        public init(allow: [String]? = nil, deny: [String] = []) {
            self.allow = allow
            self.deny = deny
        }

        /// Whether a client may call `method` on this chain.
        public func allows(_ method: String) -> Bool {
            if deny.contains(where: { Self.pattern($0, matches: method) }) { return false }
            guard let allow else { return true }
            return allow.contains { Self.pattern($0, matches: method) }
        }

        static func pattern(_ pattern: String, matches method: String) -> Bool {
            if pattern.hasSuffix("*") { return method.hasPrefix(pattern.dropLast()) }
            return method == pattern
        }
    }

    /// One provider endpoint of a chain.
    public struct Upstream: Sendable, Equatable {
        /// Unique across the configuration; shown in `X-Bulwark-Upstream`, logs and metrics.
        public var id: String
        /// The HTTP(S) JSON-RPC endpoint; often holds an API key, so log `redactedURL`.
        public var url: String
        /// The WebSocket endpoint (`ws://` or `wss://`) for subscriptions.
        public var ws: String?
        /// Where the upstream runs: the unit that fails together.
        public var labels: FailureDomain
        /// Most requests per second the gateway sends it; nil: no limit.
        public var maxRps: Double?
        /// Most calls of a client batch sent to this upstream as one JSON-RPC batch; nil: one call per request.
        public var maxBatch: Int?
        /// HTTP/1.1 requests in flight on one connection (pipelining); nil: one at a time.
        public var pipeline: Int?
        /// `protocol: http2`: HTTP/2 (ALPN `h2` over TLS, prior knowledge over plain HTTP), every
        /// call a stream of one connection per event loop; false (`http1`, the default): HTTP/1.1.
        public var http2: Bool
        /// Sent with every request (e.g. `Authorization`); values are secrets.
        public var headers: [String: String]

        public init(id: String, url: String, ws: String? = nil, labels: FailureDomain, maxRps: Double? = nil, maxBatch: Int? = nil,
                    pipeline: Int? = nil, http2: Bool = false, headers: [String: String] = [:]) {
            self.id = id
            self.url = url
            self.ws = ws
            self.labels = labels
            self.maxRps = maxRps
            self.maxBatch = maxBatch
            self.pipeline = pipeline
            self.http2 = http2
            self.headers = headers
        }

        /// `url` with credentials hidden (user info, query values, key-like path segments such as
        /// Infura's `/v3/<key>`), so it can be logged and shown on the dashboard.
        public var redactedURL: String { URLRedaction.redact(url) }

        /// `ws` with credentials hidden, like `redactedURL`.
        public var redactedWS: String? { ws.map(URLRedaction.redact) }
    }

    /// Provider, cloud and region together: the unit that fails at once. The same type the
    /// routing policy counts domains with.
    public typealias FailureDomain = Failsafe.FailureDomain
}

extension Character {
    /// `0`–`9` only (`isNumber` also accepts other scripts' digits and fractions).
    var isASCIIDigit: Bool { isASCII && isNumber }
}
