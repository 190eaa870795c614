import Failsafe

/// One upstream as the router needs it.
public struct UpstreamSpec: Sendable {
    public var id: String
    public var url: String
    public var domain: FailureDomain
    /// Requests per second this upstream may receive; nil is unlimited.
    public var maxRps: Double?
    /// Most calls of a client batch sent to this upstream as one JSON-RPC batch; 1: one call per request.
    public var maxBatch: Int
    /// HTTP/1.1 requests in flight on one connection (pipelining); 1: one at a time.
    public var pipeline: Int
    /// HTTP/2 instead of HTTP/1.1: one connection per event loop, a stream per request.
    public var http2: Bool
    public var headers: [(String, String)]

    public init(id: String, url: String, domain: FailureDomain, maxRps: Double? = nil, maxBatch: Int = 1, pipeline: Int = 1,
                http2: Bool = false, headers: [(String, String)] = []) {
        self.maxBatch = max(1, maxBatch)
        self.pipeline = max(1, pipeline)
        self.http2 = http2
        self.id = id
        self.url = url
        self.domain = domain
        self.maxRps = maxRps
        self.headers = headers
    }
}

/// How one chain's calls are routed.
public struct RouterConfiguration: Sendable {
    public var chainName: String
    public var chainId: UInt64
    public var upstreams: [UpstreamSpec]
    /// Upstreams more than this many blocks behind the consensus head serve no head-dependent calls.
    public var maxLag: Int = 4
    /// Longest single attempt; the client's deadline caps it further.
    public var attemptTimeout: Duration = .seconds(3)
    /// When to start a hedge: at the upstream's recent p95, within these bounds.
    public var hedging: HedgingPolicy = try! HedgingPolicy(minimumDelay: .milliseconds(30), maximumDelay: .seconds(1),
                                                            delayWithoutLatencyData: .milliseconds(250), maximumHedges: 2)
    /// Attempts started for one call, hedges included.
    public var maxAttempts = 5
    /// Circuit breaking, latency windows and scoring of each upstream. An open circuit is
    /// probed again after 1 s, doubling to at most 4 s (head polls act as probes), so a
    /// failure domain that comes back gets traffic within a few seconds.
    public var health: UpstreamHealthConfiguration = try! UpstreamHealthConfiguration(
        circuitBreaker: try! CircuitBreakerConfiguration(maximumOpenDuration: .seconds(4), probeTimeout: .seconds(5))
    )
    /// Pause before a second round over the upstreams when every one failed and time is left.
    public var retryBackoff: Backoff = try! Backoff(base: .milliseconds(50), cap: .milliseconds(500))
    /// How often each upstream's head (and chain id) is polled.
    public var headPollInterval: Duration = .seconds(1)
    /// How long the consensus head counts as current without any upstream answering a head
    /// poll. Past it, `eth_blockNumber` is no longer answered from it and the cache drops the
    /// answers it keeps for the head (they are served as stale, if at all).
    public var headFreshness: Duration = .seconds(3)
    /// The `finalized` block is polled every this many head polls.
    public var finalizedPollEvery = 4
    /// Blocks below the consensus head treated as final when upstreams report no `finalized` block.
    public var finalityDepth = 64
    /// `eth_sendRawTransaction` goes to upstreams in at least this many failure domains.
    public var broadcastDomains = 2
    /// Account reads answered only when upstreams in two failure domains agree: on a
    /// disagreement a third domain decides by majority, and the upstream outvoted is counted
    /// as failing (it lied or lags); with no majority the client gets -32012. Doubles the
    /// upstream calls for these methods; verified mode (proofs) is the stronger tool.
    public var crossCheckedMethods: Set<String> = []

    /// Verified mode (SPEC section 5); nil: answers are passed on as upstreams give them.
    public var verification: Verification?

    public struct Verification: Sendable, Equatable {
        /// Distinct failure domains that must report the same hash before a header is trusted.
        public var quorumDomains: Int
        /// How long an upstream whose answer failed verification gets no calls.
        public var coolingPeriod: Duration

        public init(quorumDomains: Int = 2, coolingPeriod: Duration = .seconds(60)) {
            self.quorumDomains = quorumDomains
            self.coolingPeriod = coolingPeriod
        }
    }

    /// The account reads a lying provider could falsify: balances, nonces, code, storage, proofs.
    public static let accountReads: Set<String> = ["eth_getBalance", "eth_getTransactionCount", "eth_getCode", "eth_getStorageAt", "eth_getProof"]

    public init(chainName: String, chainId: UInt64, upstreams: [UpstreamSpec]) {
        self.chainName = chainName
        self.chainId = chainId
        self.upstreams = upstreams
    }
}
