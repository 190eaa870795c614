import Testing
import BulwarkCore

@Suite struct URLRedactionTests {
    @Test(arguments: [
        // Infura, Alchemy, Ankr, QuickNode and Blast keys and tokens in the path.
        ("https://mainnet.infura.io/v3/0123456789abcdef0123456789abcdef", "https://mainnet.infura.io/v3/***"),
        ("wss://mainnet.infura.io/ws/v3/0123456789abcdef0123456789abcdef", "wss://mainnet.infura.io/ws/v3/***"),
        ("https://eth-mainnet.g.alchemy.com/v2/Ab1_cdEFgh-IJklMNop2qrSTuv", "https://eth-mainnet.g.alchemy.com/v2/***"),
        ("https://rpc.ankr.com/eth/9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "https://rpc.ankr.com/eth/***"),
        ("https://black-frost.quiknode.pro/0123456789abcdef0123456789abcdef01234567/", "https://black-frost.quiknode.pro/***/"),
        ("https://eth-mainnet.blastapi.io/1b2c3d4e-5f60-7182-93a4-b5c6d7e8f901", "https://eth-mainnet.blastapi.io/***"),
        // Credentials in the user info and the query.
        ("https://user:pass@node.example:8545/rpc", "https://***@node.example:8545/rpc"),
        ("https://only-a-token@node.example/", "https://***@node.example/"),
        ("https://rpc.example/eth?apikey=short&network=main", "https://rpc.example/eth?apikey=***&network=***"),
        ("https://rpc.example/?token", "https://rpc.example/?***"),
        // Nothing secret: unchanged.
        ("http://10.0.0.5:8545", "http://10.0.0.5:8545"),
        ("https://ethereum-mainnet.example.com/ethereum-mainnet-archive", "https://ethereum-mainnet.example.com/ethereum-mainnet-archive"),
        ("http://[::1]:8545/", "http://[::1]:8545/"),
    ])
    func hidesCredentialsButKeepsWhereTheEndpointIs(url: String, redacted: String) {
        let upstream = GatewayConfiguration.Upstream(id: "u", url: url, ws: url, labels: .init(provider: "p", cloud: "c", region: "r"))
        #expect(upstream.redactedURL == redacted)
        #expect(upstream.redactedWS == redacted)
    }

    @Test func aFragmentIsDroppedAndAnUnparseableURLIsHiddenWhole() {
        #expect(URLRedaction.redact("https://rpc.example/eth#secret-fragment") == "https://rpc.example/eth")
        #expect(URLRedaction.redact("not a url sk_live_4f9a8b7c") == "<unparseable URL>")
    }

    @Test func redactsTheSpecExampleAndPostgresPasswords() throws {
        let configuration = try parse(specExampleYAML, specEnvironment)
        let upstream = configuration.chains[0].upstreams[0]
        #expect(upstream.redactedURL == "https://mainnet.infura.io/v3/***")
        #expect(!upstream.redactedURL.contains(specEnvironment["INFURA_KEY"]!))
        #expect(configuration.cache.redactedURL == "postgres://***@127.0.0.1/bulwark")
        let cache = GatewayConfiguration.Cache(store: .postgres, url: "postgres://bulwark:hunter2-pw@db.internal:5432/bulwark?sslmode=require")
        #expect(cache.redactedURL == "postgres://***@db.internal:5432/bulwark?sslmode=***")
    }
}

@Suite struct MethodPolicyTests {
    @Test func denyWinsAndWildcardsMatchPrefixes() {
        let policy = GatewayConfiguration.MethodPolicy(allow: ["eth_*", "net_version"], deny: ["eth_sign*"])
        #expect(policy.allows("eth_getLogs"))
        #expect(policy.allows("net_version"))
        #expect(!policy.allows("net_versions"))
        #expect(!policy.allows("eth_signTypedData_v4"))
        #expect(!policy.allows("eth_sign"))
        #expect(!policy.allows("debug_traceCall"))
        let denyOnly = GatewayConfiguration.MethodPolicy(deny: ["debug_*"])
        #expect(denyOnly.allows("trace_block"))
        #expect(!denyOnly.allows("debug_traceCall"))
        #expect(GatewayConfiguration.MethodPolicy(allow: ["*"]).allows("anything_at_all"))
    }
}
