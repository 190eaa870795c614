import BigInt
import Yams

/// What a simulated network consists of: one chain and the provider faces that serve it.
public struct SimnetConfiguration: Sendable, Equatable {
    /// One provider's endpoint: an id and the failure domain it lives in.
    public struct Face: Sendable, Equatable {
        public var id: String
        public var provider: String
        public var cloud: String
        public var region: String
        public var fault: Fault

        public init(id: String, provider: String, cloud: String, region: String, fault: Fault = .none) {
            self.id = id
            self.provider = provider
            self.cloud = cloud
            self.region = region
            self.fault = fault
        }
    }

    public var chainId: UInt64 = 1337
    /// Time between blocks; nil produces blocks only when asked (tests, admin API `POST /mine`).
    public var blockTime: Duration? = .seconds(1)
    /// `finalized` is this many blocks below the head, `safe` half as many.
    public var finalityDepth: Int = 8
    /// Number of funded development accounts.
    public var accountCount: Int = 10
    /// Genesis balance of each development account, in wei.
    public var accountBalance: BigUInt = BigUInt(1000) * BigUInt(10).power(18)
    /// Blocks whose state stays queryable (older blocks keep headers, bodies and receipts).
    public var stateHistory: Int = 10_000
    public var faces: [Face] = SimnetConfiguration.defaultFaces

    public init() {}

    /// Five faces over four failure domains: two providers in aws/us-east-1, and one each
    /// in gcp/europe-west1, azure/eastus and a self-hosted node.
    public static let defaultFaces: [Face] = [
        Face(id: "alchemy-use1", provider: "alchemy", cloud: "aws", region: "us-east-1"),
        Face(id: "infura-use1", provider: "infura", cloud: "aws", region: "us-east-1"),
        Face(id: "quicknode-euw1", provider: "quicknode", cloud: "gcp", region: "europe-west1"),
        Face(id: "ankr-eastus", provider: "ankr", cloud: "azure", region: "eastus"),
        Face(id: "own-node", provider: "self", cloud: "hetzner", region: "fsn1"),
    ]

    /// Reads the YAML form:
    /// ```yaml
    /// chainId: 1337
    /// blockTime: 1s          # 0: only when mined over the admin API
    /// finalityDepth: 8
    /// accounts: 10
    /// accountBalance: 1000   # ether per development account
    /// faces:
    ///   - id: alchemy-use1
    ///     labels: { provider: alchemy, cloud: aws, region: us-east-1 }
    ///     fault: none        # down, stall, slow:200ms, lag:5, lie, ratelimit, garbage, wrongchain, flaky:0.3
    /// ```
    public static func parse(yaml: String) throws(SimnetConfigurationError) -> SimnetConfiguration {
        let node: Node?
        do { node = try Yams.compose(yaml: yaml) } catch {
            throw .init("not valid YAML: \(error)")
        }
        var config = SimnetConfiguration()
        guard let root = node, let mapping = root.mapping else {
            if node == nil { return config }
            throw .init("the simnet config must be a YAML mapping")
        }
        let known: Set<String> = ["chainId", "blockTime", "finalityDepth", "accounts", "accountBalance", "stateHistory", "faces"]
        for key in mapping.keys.compactMap(\.string) where !known.contains(key) {
            throw .init("\(key): unknown setting (known: \(known.sorted().joined(separator: ", ")))")
        }
        if let value = mapping["chainId"] {
            guard let id = value.int, id > 0 else { throw .init("chainId: expected a positive integer") }
            config.chainId = UInt64(id)
        }
        if let value = mapping["blockTime"] {
            let duration = try parseDuration(value.string ?? "")
            config.blockTime = duration == .zero ? nil : duration
        }
        if let value = mapping["finalityDepth"] {
            guard let depth = value.int, depth >= 0 else { throw .init("finalityDepth: expected a non-negative integer") }
            config.finalityDepth = depth
        }
        if let value = mapping["accounts"] {
            guard let count = value.int, (1...1000).contains(count) else { throw .init("accounts: expected 1 to 1000") }
            config.accountCount = count
        }
        if let value = mapping["accountBalance"] {
            guard let ether = value.int, ether >= 0 else { throw .init("accountBalance: expected whole ether, e.g. 1000") }
            config.accountBalance = BigUInt(ether) * BigUInt(10).power(18)
        }
        if let value = mapping["stateHistory"] {
            guard let blocks = value.int, blocks >= 1 else { throw .init("stateHistory: expected a positive number of blocks") }
            config.stateHistory = blocks
        }
        if let value = mapping["faces"] {
            guard let items = value.sequence, !items.isEmpty else { throw .init("faces: expected a non-empty list") }
            var faces: [Face] = []
            for (i, item) in items.enumerated() {
                let path = "faces[\(i)]"
                guard let face = item.mapping else { throw .init("\(path): expected a mapping with id and labels") }
                guard let id = face["id"]?.string, !id.isEmpty else { throw .init("\(path).id: missing") }
                guard !faces.contains(where: { $0.id == id }) else { throw .init("\(path).id: '\(id)' is used twice") }
                let labels = face["labels"]?.mapping
                func label(_ name: String) throws(SimnetConfigurationError) -> String {
                    guard let text = labels?[name]?.string ?? face[name]?.string, !text.isEmpty else {
                        throw .init("\(path).labels.\(name): missing")
                    }
                    return text
                }
                var fault = Fault.none
                if let text = face["fault"]?.string {
                    do { fault = try Fault(parsing: text) } catch { throw .init("\(path).fault: \(error.message)") }
                }
                faces.append(Face(id: id, provider: try label("provider"), cloud: try label("cloud"), region: try label("region"), fault: fault))
            }
            config.faces = faces
        }
        return config
    }
}
