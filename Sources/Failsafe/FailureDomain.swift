/// Where an upstream can fail together with others: its provider, cloud and region.
///
/// Two upstreams share a failure domain only when all three labels match; SPEC §2 treats
/// `provider`, `cloud` and `region` together as the domain. Consensus on the head and retries
/// count distinct domains, so one provider or one cloud region going wrong cannot decide alone.
public struct FailureDomain: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The company or team running the node (`infura`, `self`).
    public var provider: String
    /// Where it runs (`aws`, `gcp`, `hetzner`).
    public var cloud: String
    /// The cloud's region (`us-east-1`).
    public var region: String

    public init(provider: String, cloud: String, region: String) {
        self.provider = provider
        self.cloud = cloud
        self.region = region
    }

    /// `provider/cloud/region`.
    public var description: String { "\(provider)/\(cloud)/\(region)" }

    /// By provider, then cloud, then region: a stable order for reports.
    public static func < (lhs: FailureDomain, rhs: FailureDomain) -> Bool {
        (lhs.provider, lhs.cloud, lhs.region) < (rhs.provider, rhs.cloud, rhs.region)
    }
}
