/// The chain head the gateway serves as `latest`: the highest block that upstreams from at least
/// two distinct failure domains have reached (SPEC §4), and who is too far behind it.
///
/// A single provider racing ahead (or lying about its head) cannot move `latest` on its own;
/// it takes a second failure domain to confirm a height. When every reporting upstream is in one
/// domain, that domain's highest head is the consensus.
///
/// Block hashes, where given, refine agreement at the candidate height `N`: an upstream whose
/// head is above `N` supports `N` whatever its branch (its hash at `N` is unknown), an upstream
/// whose head is exactly `N` supports only the hash it reported (or any, if it gave none). If
/// the best-supported hash at `N` has fewer than two domains, or two hashes tie (a fork at the
/// tip), the consensus falls back to `N − 1`, which every upstream at or above `N` has reached.
/// Upstreams at `N` with a hash other than the consensus hash are ``divergent``.
///
/// Pass the heads of upstreams that currently answer; the head of one that is down is stale.
public struct ConsensusHead<ID: Hashable & Sendable, BlockHash: Hashable & Sendable>: Sendable {
    /// One upstream's latest head.
    public struct Report: Hashable, Sendable {
        /// The upstream.
        public var id: ID
        /// The upstream's failure domain.
        public var domain: FailureDomain
        /// Its head's block number.
        public var number: UInt64
        /// Its head's hash, if known; lets agreement at one height see a fork.
        public var hash: BlockHash?

        public init(id: ID, domain: FailureDomain, number: UInt64, hash: BlockHash? = nil) {
            self.id = id
            self.domain = domain
            self.number = number
            self.hash = hash
        }
    }

    /// The consensus head's block number.
    public let number: UInt64
    /// The consensus head's hash, when upstreams at exactly that height reported one they agree
    /// on; nil when unknown or contested.
    public let hash: BlockHash?
    /// The failure domains whose upstreams have reached the consensus head (on its branch, as far
    /// as hashes tell).
    public let agreeingDomains: Set<FailureDomain>
    /// Upstreams more than `maxLag` blocks behind the head: not for head-dependent calls.
    public let lagging: Set<ID>
    /// Upstreams at the head's height with a different hash: on another branch.
    public let divergent: Set<ID>
    /// The lag allowed before an upstream counts as ``lagging``.
    public let maxLag: UInt64
    /// Every report, one per upstream id, in the order given.
    public let reports: [Report]

    /// The consensus of `reports`, or nil when there are none.
    ///
    /// - Parameters:
    ///   - reports: one head per upstream; if an id repeats, its highest head counts.
    ///   - maxLag: how many blocks behind the head an upstream may be and still serve
    ///     head-dependent calls (SPEC §4 default: 4).
    public init?(reports: [Report], maxLag: UInt64 = 4) {
        let reports = Self.highestPerUpstream(reports)
        guard !reports.isEmpty else { return nil }

        var highestByDomain: [FailureDomain: UInt64] = [:]
        for report in reports {
            highestByDomain[report.domain] = max(highestByDomain[report.domain] ?? 0, report.number)
        }

        let agreement: (hash: BlockHash?, domains: Set<FailureDomain>)
        let number: UInt64
        if highestByDomain.count == 1 {
            number = highestByDomain.values.first!
            let hashes = Set(reports.filter { $0.number == number }.compactMap(\.hash))
            agreement = (hashes.count == 1 ? hashes.first : nil, Set(highestByDomain.keys))
        } else {
            // The second-highest domain head is the highest height two domains have reached.
            let candidate = highestByDomain.values.sorted(by: >)[1]
            if let agreed = Self.agreement(at: candidate, in: reports) {
                number = candidate
                agreement = agreed
            } else {
                // Contested at `candidate`: every upstream at or above it has the block below, so
                // that height is agreed; its hash is known only if its own reporters agree.
                number = candidate > 0 ? candidate - 1 : 0
                agreement = Self.agreement(at: number, in: reports)
                    ?? (nil, Set(reports.filter { $0.number >= number }.map(\.domain)))
            }
        }

        self.number = number
        self.hash = agreement.hash
        self.agreeingDomains = agreement.domains
        self.maxLag = maxLag
        self.reports = reports
        self.lagging = Set(reports.filter { number > $0.number && number - $0.number > maxLag }.map(\.id))
        if let consensusHash = agreement.hash {
            self.divergent = Set(
                reports.filter { $0.number == number && $0.hash != nil && $0.hash != consensusHash }.map(\.id)
            )
        } else {
            self.divergent = []
        }
    }

    /// Whether every report came from one failure domain, so nothing confirmed the head.
    public var isSingleDomain: Bool {
        Set(reports.map(\.domain)).count == 1
    }

    /// Upstreams that have block `block`: head at or above it, leaving out a ``divergent``
    /// upstream for the height where it is known to be on another branch. In report order.
    public func upstreamsThatHave(block: UInt64) -> [ID] {
        reports.filter { $0.number >= block && !(divergent.contains($0.id) && $0.number == block) }.map(\.id)
    }

    /// Whether `id` may serve calls that depend on the head (`latest`, pending state): it
    /// reported a head, is not ``lagging`` and not ``divergent``.
    public func mayServeHeadDependentCalls(_ id: ID) -> Bool {
        reports.contains { $0.id == id } && !lagging.contains(id) && !divergent.contains(id)
    }

    /// The hash and domains agreeing at `height`, or nil when fewer than two domains agree or
    /// two hashes are equally supported.
    private static func agreement(
        at height: UInt64,
        in reports: [Report]
    ) -> (hash: BlockHash?, domains: Set<FailureDomain>)? {
        var anyBranch = Set<FailureDomain>()  // above `height`, or at it without a hash
        var byHash: [BlockHash: Set<FailureDomain>] = [:]
        for report in reports where report.number >= height {
            if report.number > height || report.hash == nil {
                anyBranch.insert(report.domain)
            } else {
                byHash[report.hash!, default: []].insert(report.domain)
            }
        }
        guard !byHash.isEmpty else { return anyBranch.count >= 2 ? (nil, anyBranch) : nil }
        let supported = byHash.map { (hash: $0.key, domains: $0.value.union(anyBranch)) }
            .sorted { $0.domains.count > $1.domains.count }
        let best = supported[0]
        guard best.domains.count >= 2 else { return nil }
        if supported.count > 1 && supported[1].domains.count == best.domains.count { return nil }
        return best
    }

    private static func highestPerUpstream(_ reports: [Report]) -> [Report] {
        var position: [ID: Int] = [:]
        var unique: [Report] = []
        for report in reports {
            if let index = position[report.id] {
                if report.number > unique[index].number { unique[index] = report }
            } else {
                position[report.id] = unique.count
                unique.append(report)
            }
        }
        return unique
    }
}
