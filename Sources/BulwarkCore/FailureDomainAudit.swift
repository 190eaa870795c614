/// What one failure would do to a configuration: how the upstreams are spread over
/// providers, clouds and regions, and for every single provider, cloud, cloud region and
/// failure domain, which chains would lose upstreams or become unavailable if it went down.
///
/// Pure computation over a `GatewayConfiguration`; `bulwark audit` prints it.
public struct FailureDomainAudit: Sendable, Equatable {
    /// The unit that fails at once, from widest to narrowest.
    public enum Level: String, Sendable, CaseIterable {
        /// A provider's outage, in every cloud and region it serves from.
        case provider
        /// A whole cloud.
        case cloud
        /// One region of one cloud (`aws/us-east-1`).
        case region
        /// One provider in one cloud region: a failure domain proper (`infura/aws/us-east-1`).
        case domain

        /// How the report names a unit of this level.
        public var title: String {
            switch self {
            case .provider: "provider"
            case .cloud: "cloud"
            case .region: "region"
            case .domain: "failure domain"
            }
        }

        /// The label keys a unit of this level is selected by.
        var labelKeys: [String] {
            switch self {
            case .provider: ["provider"]
            case .cloud: ["cloud"]
            case .region: ["cloud", "region"]
            case .domain: ["provider", "cloud", "region"]
            }
        }

        func name(of domain: GatewayConfiguration.FailureDomain) -> String {
            labelKeys.map { domain.label($0) }.joined(separator: "/")
        }
    }

    /// How many upstreams (of all chains) one provider, cloud or region holds.
    public struct Share: Sendable, Equatable {
        public let name: String
        public let upstreams: Int
        /// Of all upstreams in the configuration, 0–100.
        public let percent: Double
    }

    /// How one chain's upstreams are spread.
    public struct ChainSummary: Sendable, Equatable {
        public let name: String
        public let upstreams: Int
        public let failureDomains: Int
        public let providers: Int
        public let clouds: Int
        /// Verified reads are on.
        public let verify: Bool
        /// Failure domains that must agree on a block hash before a header is trusted (when `verify`).
        public let quorumDomains: Int
    }

    /// What one failure does to one chain.
    public struct ChainImpact: Sendable, Equatable {
        public let chain: String
        /// Upstreams of the chain inside the failing unit.
        public let lost: Int
        /// Upstreams of the chain before the failure.
        public let total: Int
        /// Distinct failure domains among the upstreams left.
        public let remainingFailureDomains: Int
        /// The chain has verified reads on and fewer failure domains are left than its quorum needs to trust headers.
        public let verifiedReadsStop: Bool

        public init(chain: String, lost: Int, total: Int, remainingFailureDomains: Int, verifiedReadsStop: Bool) {
            self.chain = chain
            self.lost = lost
            self.total = total
            self.remainingFailureDomains = remainingFailureDomains
            self.verifiedReadsStop = verifiedReadsStop
        }

        public var remaining: Int { total - lost }
        /// No upstream is left: every call to the chain fails.
        public var isUnavailable: Bool { remaining == 0 }
    }

    /// One unit failing, and the chains it touches (chains it does not touch are left out).
    public struct Scenario: Sendable, Equatable {
        public let level: Level
        /// `infura`, `aws`, `aws/us-east-1` or `infura/aws/us-east-1`.
        public let name: String
        /// The labels that select the failing upstreams, in the form `POST /admin/drill` takes.
        public let match: [String: String]
        /// Ids of the upstreams inside the unit, over all chains, in configuration order.
        public let upstreamIDs: [String]
        public let impacts: [ChainImpact]

        /// How many upstreams the unit holds.
        public var upstreams: Int { upstreamIDs.count }

        /// Chains left without any upstream.
        public var unavailableChains: [String] { impacts.filter(\.isUnavailable).map(\.chain) }
        public var leavesAChainWithoutUpstreams: Bool { impacts.contains(where: \.isUnavailable) }
        /// `cloud aws`, `failure domain infura/aws/us-east-1`.
        public var title: String { "\(level.title) \(name)" }
    }

    public let chains: [ChainSummary]
    public let upstreamCount: Int
    public let failureDomainCount: Int
    public let providerShares: [Share]
    public let cloudShares: [Share]
    /// Keyed by `cloud/region`: a region name alone is only meaningful within its cloud.
    public let regionShares: [Share]
    /// Every provider, cloud, cloud region and failure domain, in that order, each sorted by name.
    public let scenarios: [Scenario]

    /// The failures that leave some chain without upstreams.
    public var unsafeScenarios: [Scenario] { scenarios.filter(\.leavesAChainWithoutUpstreams) }

    /// True when no single provider, cloud, region or failure domain failure leaves a chain without upstreams.
    public var isSafe: Bool { unsafeScenarios.isEmpty }

    /// Scenarios that take out exactly the same upstreams (a provider that only runs in one
    /// region is also that region's only occupant), grouped so a report says it once.
    public var scenarioGroups: [[Scenario]] {
        var groups: [[Scenario]] = []
        for scenario in scenarios {
            if let index = groups.firstIndex(where: { $0[0].upstreamIDs == scenario.upstreamIDs }) {
                groups[index].append(scenario)
            } else {
                groups.append([scenario])
            }
        }
        return groups
    }

    public init(_ configuration: GatewayConfiguration) {
        let all = configuration.upstreams
        upstreamCount = all.count
        failureDomainCount = configuration.failureDomains.count
        chains = configuration.chains.map { chain in
            ChainSummary(
                name: chain.name,
                upstreams: chain.upstreams.count,
                failureDomains: chain.failureDomains.count,
                providers: Set(chain.upstreams.map(\.labels.provider)).count,
                clouds: Set(chain.upstreams.map(\.labels.cloud)).count,
                verify: chain.verify.enabled,
                quorumDomains: chain.verify.quorumDomains
            )
        }
        func shares(_ level: Level) -> [Share] {
            var counts: [String: Int] = [:]
            for upstream in all { counts[level.name(of: upstream.labels), default: 0] += 1 }
            return counts
                .map { Share(name: $0.key, upstreams: $0.value, percent: all.isEmpty ? 0 : Double($0.value) * 100 / Double(all.count)) }
                .sorted { ($0.upstreams, $1.name) > ($1.upstreams, $0.name) }
        }
        providerShares = shares(.provider)
        cloudShares = shares(.cloud)
        regionShares = shares(.region)

        var scenarios: [Scenario] = []
        for level in Level.allCases {
            let units = Set(all.map { level.name(of: $0.labels) }).sorted()
            for unit in units {
                let fails = { (upstream: GatewayConfiguration.Upstream) in level.name(of: upstream.labels) == unit }
                let impacts = configuration.chains.compactMap { chain -> ChainImpact? in
                    let lost = chain.upstreams.filter(fails).count
                    guard lost > 0 else { return nil }
                    let left = Set(chain.upstreams.filter { !fails($0) }.map(\.labels)).count
                    return ChainImpact(chain: chain.name, lost: lost, total: chain.upstreams.count,
                                       remainingFailureDomains: left,
                                       verifiedReadsStop: chain.verify.enabled && left > 0 && left < chain.verify.quorumDomains)
                }
                let sample = all.first(where: fails)!.labels
                scenarios.append(Scenario(
                    level: level,
                    name: unit,
                    match: Dictionary(uniqueKeysWithValues: level.labelKeys.map { ($0, sample.label($0)) }),
                    upstreamIDs: all.filter(fails).map(\.id),
                    impacts: impacts
                ))
            }
        }
        self.scenarios = scenarios
    }
}

extension GatewayConfiguration.FailureDomain {
    /// The value of label `key` (`provider`, `cloud` or `region`).
    func label(_ key: String) -> String {
        switch key {
        case "provider": provider
        case "cloud": cloud
        default: region
        }
    }
}
