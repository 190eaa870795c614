/// An upstream's failure domain: provider × cloud × region (SPEC section 2).
public struct FailureDomainLabels: Hashable, Sendable, CustomStringConvertible {
    public var provider: String
    public var cloud: String
    public var region: String

    public init(provider: String, cloud: String, region: String) {
        self.provider = provider
        self.cloud = cloud
        self.region = region
    }

    public var description: String { "\(provider)/\(cloud)/\(region)" }
}

/// One upstream as the router needs it.
public struct UpstreamSpec: Sendable {
    public var id: String
    public var url: String
    public var domain: FailureDomainLabels
    public var maxRps: Double?
    public var headers: [(String, String)]

    public init(id: String, url: String, domain: FailureDomainLabels, maxRps: Double? = nil, headers: [(String, String)] = []) {
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
    /// Bounds of the adaptive hedging delay (the upstreams' recent p95).
    public var hedgeDelayFloor: Duration = .milliseconds(30)
    public var hedgeDelayCeiling: Duration = .seconds(1)
    /// Attempts started for one call, hedges included.
    public var maxAttempts = 4
    /// How often each upstream's head (and chain id) is polled.
    public var headPollInterval: Duration = .seconds(1)
    /// `eth_sendRawTransaction` goes to upstreams in at least this many failure domains.
    public var broadcastDomains = 2

    public init(chainName: String, chainId: UInt64, upstreams: [UpstreamSpec]) {
        self.chainName = chainName
        self.chainId = chainId
        self.upstreams = upstreams
    }
}
