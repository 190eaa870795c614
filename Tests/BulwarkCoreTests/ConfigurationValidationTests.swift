import Testing
import BulwarkCore

/// One chain whose upstream list is `upstreams` (YAML list items, indented by 6); `extra` adds chain keys.
func chainYAML(name: String = "eth", chainId: String = "1", extra: String = "", upstreams: String = """
          - id: a
            url: https://a.example/rpc
            labels: { provider: alpha, cloud: aws, region: us-east-1 }
    """) -> String {
    """
    chains:
      - name: \(name)
        chainId: \(chainId)\(extra)
        upstreams:
    \(upstreams)
    """
}

/// A YAML document, the path of the error it must produce, and words its message must contain.
struct InvalidCase: CustomTestStringConvertible, Sendable {
    let yaml: String
    let path: String
    let message: String
    var testDescription: String { "\(path): \(message)" }
}

let invalidCases: [InvalidCase] = [
    // Unknown keys anywhere, with the known ones (and a suggestion when one is close).
    .init(yaml: "servr: {}\n" + chainYAML(), path: "servr",
          message: "unknown key; did you mean 'server'? (known keys here: server, cache, auth, chains)"),
    .init(yaml: "server: { listen: \"127.0.0.1:1\", timeout: 5s }\n" + chainYAML(), path: "server.timeout",
          message: "unknown key (known keys here: listen, maxBodyBytes, maxBatchSize, requestTimeout, maxHeaderBytes, maxJsonDepth, readTimeout, idleTimeout, maxConnections)"),
    .init(yaml: chainYAML(extra: "\n    finality: 12"), path: "chains[0].finality",
          message: "known keys here: name, kind, chainId, finalityDepth, maxLag, verify, methods, upstreams"),
    .init(yaml: chainYAML(upstreams: "      - { id: a, url: \"https://a.example\", labels: { provider: p, cloud: c, region: r, zone: z } }"),
          path: "chains[0].upstreams[0].labels.zone", message: "unknown key (known keys here: provider, cloud, region)"),
    // Wrong types.
    .init(yaml: "server: 5\n" + chainYAML(), path: "server", message: "expected a mapping (with keys listen, maxBodyBytes, maxBatchSize, requestTimeout, maxHeaderBytes, maxJsonDepth, readTimeout, idleTimeout, maxConnections), got a single value"),
    .init(yaml: "chains: { name: eth }", path: "chains", message: "expected a list, got a mapping"),
    .init(yaml: "server: { maxBatchSize: [1, 2] }\n" + chainYAML(), path: "server.maxBatchSize", message: "expected a whole number, got a list"),
    .init(yaml: "server: { maxBatchSize: lots }\n" + chainYAML(), path: "server.maxBatchSize", message: "expected a whole number, got 'lots'"),
    .init(yaml: "server: { maxBatchSize: 2.5 }\n" + chainYAML(), path: "server.maxBatchSize", message: "expected a whole number, got '2.5'"),
    .init(yaml: "server: { maxJsonDepth: 1000 }\n" + chainYAML(), path: "server.maxJsonDepth", message: "at most 512"),
    .init(yaml: chainYAML(extra: "\n    verify: yes"), path: "chains[0].verify", message: "expected true or false, got 'yes'"),
    .init(yaml: chainYAML(extra: "\n    verify: [true]"), path: "chains[0].verify",
          message: "expected true or false, or a mapping (with keys enabled, quorumDomains, coolingPeriod), got a list"),
    // listen.
    .init(yaml: "server: { listen: \"8545\" }\n" + chainYAML(), path: "server.listen", message: "expected host:port"),
    .init(yaml: "server: { listen: \"127.0.0.1:70000\" }\n" + chainYAML(), path: "server.listen", message: "a port from 0 to 65535"),
    .init(yaml: "server: { listen: \"::1:8545\" }\n" + chainYAML(), path: "server.listen", message: "[::1]:8545"),
    // Non-positive limits.
    .init(yaml: "server: { maxBodyBytes: 0 }\n" + chainYAML(), path: "server.maxBodyBytes", message: "must be positive, got 0"),
    .init(yaml: "server: { maxBatchSize: -1 }\n" + chainYAML(), path: "server.maxBatchSize", message: "must be positive, got -1"),
    .init(yaml: chainYAML(extra: "\n    finalityDepth: -1"), path: "chains[0].finalityDepth", message: "must be at least 0, got -1"),
    .init(yaml: chainYAML(extra: "\n    maxLag: -2"), path: "chains[0].maxLag", message: "must be at least 0, got -2"),
    .init(yaml: chainYAML(upstreams: "      - { id: a, url: \"https://a.example\", maxRps: 0, labels: { provider: p, cloud: c, region: r } }"),
          path: "chains[0].upstreams[0].maxRps", message: "must be positive, got 0"),
    .init(yaml: chainYAML(upstreams: "      - { id: a, url: \"https://a.example\", maxBatch: 0, labels: { provider: p, cloud: c, region: r } }"),
          path: "chains[0].upstreams[0].maxBatch", message: "must be positive, got 0"),
    .init(yaml: chainYAML(upstreams: "      - { id: a, url: \"https://a.example\", maxBatch: 5000, labels: { provider: p, cloud: c, region: r } }"),
          path: "chains[0].upstreams[0].maxBatch", message: "5000 is more than the 1000 calls any provider takes in one batch"),
    .init(yaml: chainYAML(upstreams: "      - { id: a, url: \"https://a.example\", pipeline: 0, labels: { provider: p, cloud: c, region: r } }"),
          path: "chains[0].upstreams[0].pipeline", message: "must be positive, got 0"),
    .init(yaml: chainYAML(upstreams: "      - { id: a, url: \"https://a.example\", pipeline: 100, labels: { provider: p, cloud: c, region: r } }"),
          path: "chains[0].upstreams[0].pipeline",
          message: "100 requests in flight on one connection is more than 64: one slow answer would hold up all of them"),
    // Unknown enumeration values.
    .init(yaml: "cache: { store: redis }\n" + chainYAML(), path: "cache.store", message: "unknown store 'redis' (expected none, memory, sqlite or postgres)"),
    .init(yaml: chainYAML(extra: "\n    kind: solana"), path: "chains[0].kind", message: "unknown kind 'solana' (expected evm or bitcoin)"),
    .init(yaml: chainYAML() + "\nauth: { keys: [{ key: k, name: n, priority: urgent }] }", path: "auth.keys[0].priority",
          message: "unknown priority 'urgent' (expected critical, normal or bulk)"),
    // Cache.
    .init(yaml: "cache: { store: postgres }\n" + chainYAML(), path: "cache.url", message: "missing: store postgres needs a connection URL"),
    .init(yaml: "cache: { store: postgres, url: \"mysql://db/bulwark\" }\n" + chainYAML(), path: "cache.url", message: "must be a postgres:// or postgresql:// URL"),
    .init(yaml: "cache: { path: \"\" }\n" + chainYAML(), path: "cache.path", message: "empty: the SQLite store needs a file path"),
    .init(yaml: "cache: { staleIfError: soon }\n" + chainYAML(), path: "cache.staleIfError", message: "expected a duration with a unit"),
    // Chains.
    .init(yaml: "server: {}", path: "chains", message: "missing: at least one chain is needed"),
    .init(yaml: "", path: "chains", message: "missing: the configuration is empty"),
    .init(yaml: "chains: []", path: "chains", message: "empty: at least one chain is needed"),
    .init(yaml: chainYAML(name: "Eth Mainnet"), path: "chains[0].name", message: "'Eth Mainnet' is not a valid route: use lowercase letters, digits, '-' and '_'"),
    .init(yaml: chainYAML(name: "eth/1"), path: "chains[0].name", message: "is not a valid route"),
    .init(yaml: chainYAML(name: "metrics"), path: "chains[0].name", message: "'metrics' is reserved for the gateway's own /metrics endpoint"),
    .init(yaml: "chains:\n  - { name: eth, chainId: 1, upstreams: [{ id: a, url: \"https://a\", labels: { provider: p, cloud: c, region: r } }] }\n"
              + "  - { name: eth, chainId: 1, upstreams: [{ id: b, url: \"https://b\", labels: { provider: p, cloud: c, region: r } }] }",
          path: "chains[1].name", message: "'eth' is already the name of chains[0]; chain names are routes and must be unique"),
    .init(yaml: chainYAML(chainId: "0"), path: "chains[0].chainId", message: "must be positive, got 0"),
    .init(yaml: "chains: [{ name: eth, upstreams: [{ id: a, url: \"https://a\", labels: { provider: p, cloud: c, region: r } }] }]",
          path: "chains[0].chainId", message: "missing: the chain's EIP-155 id"),
    .init(yaml: "chains: [{ name: eth, chainId: 1 }]", path: "chains[0].upstreams", message: "missing: a chain needs at least one upstream"),
    .init(yaml: "chains: [{ name: eth, chainId: 1, upstreams: [] }]", path: "chains[0].upstreams", message: "empty: a chain needs at least one upstream"),
    .init(yaml: chainYAML(extra: "\n    kind: bitcoin\n    verify: true"), path: "chains[0].verify", message: "only for kind evm"),
    .init(yaml: chainYAML(extra: "\n    methods: { allow: [] }"), path: "chains[0].methods.allow", message: "empty: an empty allow list allows no method"),
    .init(yaml: chainYAML(extra: "\n    methods: { deny: [\"eth_*call\"] }"), path: "chains[0].methods.deny[0]", message: "'*' is only allowed at the end (e.g. eth_*)"),
    // Upstreams.
    .init(yaml: "chains:\n  - { name: eth, chainId: 1, upstreams: [{ id: a, url: \"https://a\", labels: { provider: p, cloud: c, region: r } }] }\n"
              + "  - { name: base, chainId: 8453, upstreams: [{ id: a, url: \"https://b\", labels: { provider: p, cloud: c, region: r } }] }",
          path: "chains[1].upstreams[0].id", message: "'a' is already the id of chains[0].upstreams[0]; upstream ids must be unique in the configuration"),
    .init(yaml: chainYAML(upstreams: "      - { id: \"a b\", url: \"https://a\", labels: { provider: p, cloud: c, region: r } }"),
          path: "chains[0].upstreams[0].id", message: "is not an id of letters, digits"),
    .init(yaml: chainYAML(upstreams: "      - { id: a, labels: { provider: p, cloud: c, region: r } }"), path: "chains[0].upstreams[0].url", message: "missing"),
    .init(yaml: chainYAML(upstreams: "      - { id: a, url: \"ftp://a.example\", labels: { provider: p, cloud: c, region: r } }"),
          path: "chains[0].upstreams[0].url", message: "must start with http:// or https://, not ftp://"),
    .init(yaml: chainYAML(upstreams: "      - { id: a, url: \"mainnet.infura.io/v3\", labels: { provider: p, cloud: c, region: r } }"),
          path: "chains[0].upstreams[0].url", message: "is not an absolute URL"),
    .init(yaml: chainYAML(upstreams: "      - { id: a, url: \"https://a.example:99999\", labels: { provider: p, cloud: c, region: r } }"),
          path: "chains[0].upstreams[0].url", message: "has a port that is not a number from 1 to 65535"),
    .init(yaml: chainYAML(upstreams: "      - { id: a, url: \"https://a\", ws: \"https://a/ws\", labels: { provider: p, cloud: c, region: r } }"),
          path: "chains[0].upstreams[0].ws", message: "must start with ws:// or wss://, not https://"),
    .init(yaml: chainYAML(upstreams: "      - { id: a, url: \"http://localhost:8545\", labels: { provider: p, cloud: c, region: r } }"),
          path: "chains[0].upstreams[0].url", message: "points at the gateway's own address (server.listen 127.0.0.1:8545)"),
    .init(yaml: chainYAML(upstreams: "      - { id: a, url: \"https://a\", labels: { provider: p, cloud: c, region: r } }\n      - { id: b, url: \"https://a\", labels: { provider: q, cloud: d, region: s } }"),
          path: "chains[0].upstreams[1].url", message: "the same URL as chains[0].upstreams[0].url"),
    .init(yaml: chainYAML(upstreams: "      - { id: a, url: \"https://a\" }"), path: "chains[0].upstreams[0].labels", message: "missing: provider, cloud and region"),
    .init(yaml: chainYAML(upstreams: "      - { id: a, url: \"https://a\", labels: { provider: p, cloud: c } }"), path: "chains[0].upstreams[0].labels.region", message: "missing"),
    .init(yaml: chainYAML(upstreams: "      - { id: a, url: \"https://a\", labels: { provider: p, cloud: \"\", region: r } }"), path: "chains[0].upstreams[0].labels.cloud", message: "empty"),
    .init(yaml: chainYAML(upstreams: "      - { id: a, url: \"https://a\", labels: { provider: \"big co\", cloud: c, region: r } }"),
          path: "chains[0].upstreams[0].labels.provider", message: "'big co' may not contain spaces or '/'"),
    .init(yaml: chainYAML(upstreams: "      - { id: a, url: \"https://a\", headers: { \"Bad Name\": x }, labels: { provider: p, cloud: c, region: r } }"),
          path: "chains[0].upstreams[0].headers.Bad Name", message: "'Bad Name' is not an HTTP header name"),
    // Auth.
    .init(yaml: chainYAML() + "\nauth: { adminKey: \"\", keys: [{ key: k, name: n }] }", path: "auth.adminKey", message: "empty: give the admin key a value"),
    .init(yaml: chainYAML() + "\nauth: { adminKey: adm }", path: "auth.keys", message: "missing: with auth on, every call needs an API key"),
    .init(yaml: chainYAML() + "\nauth: { keys: [] }", path: "auth.keys", message: "empty: with auth on, every call needs an API key"),
    .init(yaml: chainYAML() + "\nauth: { keys: [{ key: same, name: one }, { key: same, name: two }] }", path: "auth.keys[1].key",
          message: "the same key as auth.keys[0].key; each client needs its own key"),
    .init(yaml: chainYAML() + "\nauth: { keys: [{ key: k1, name: one }, { key: k2, name: one }] }", path: "auth.keys[1].name", message: "'one' is already the name of auth.keys[0]"),
    .init(yaml: chainYAML() + "\nauth: { keys: [{ name: one }] }", path: "auth.keys[0].key", message: "missing"),
    .init(yaml: chainYAML() + "\nauth: { keys: [{ key: k, name: one, rps: 0 }] }", path: "auth.keys[0].rps", message: "must be positive, got 0"),
    .init(yaml: chainYAML() + "\nauth: { keys: [{ key: k, name: one, rps: 10, burst: 0.5 }] }", path: "auth.keys[0].burst", message: "must be at least 1, got 0.5"),
    .init(yaml: chainYAML() + "\nauth: { keys: [{ key: k, name: one, burst: 10 }] }", path: "auth.keys[0].burst", message: "needs rps"),
    .init(yaml: chainYAML() + "\nauth: { adminKey: k, keys: [{ key: k, name: one }] }", path: "auth.adminKey", message: "the same key as auth.keys[0].key; the admin key must not double as a client key"),
    // Documents that are not YAML at all.
    .init(yaml: "chains: [\n  - name: eth", path: "", message: "not valid YAML: line"),
    .init(yaml: "server: {}\nserver: {}\n" + chainYAML(), path: "", message: "'server' appears more than once in the same mapping"),
    .init(yaml: "- a\n- b", path: "", message: "expected a mapping (with keys server, cache, auth, chains), got a list"),
]

@Suite struct ConfigurationValidationTests {
    @Test(arguments: invalidCases)
    func eachRuleReportsItsPathAndReason(_ invalid: InvalidCase) {
        let found = errors(invalid.yaml)
        #expect(found.count == 1, "\(found)")
        #expect(found.first?.path == invalid.path, "\(found)")
        #expect(found.first?.message.contains(invalid.message) == true, "\(found)")
    }

    @Test func reportsEveryErrorTogetherInDocumentOrder() {
        let found = errors("""
            server:
              listen: nowhere
              maxBodyBytes: 0
            cache:
              store: redis
            chains:
              - name: eth
                chainId: 1
                upstreams:
                  - id: a
                    url: https://a.example
                    labels: { provider: infura, cloud: aws }
                  - id: a
                    url: ftp://b.example
                    labels: { provider: alchemy, cloud: gcp, region: us-central1 }
              - name: eth
                chainId: 8453
                upstreams: []
            """)
        #expect(found.map(\.path) == [
            "server.listen",
            "server.maxBodyBytes",
            "cache.store",
            "chains[0].upstreams[0].labels.region",
            "chains[0].upstreams[1].id",
            "chains[0].upstreams[1].url",
            "chains[1].name",
            "chains[1].upstreams",
        ])
        #expect(found[3].description == "chains[0].upstreams[0].labels.region: missing")
        #expect(ConfigurationErrors(found).description.split(separator: "\n").count == 8)
    }

    @Test func aFlowMappingWithAnUnquotedReferenceGetsAHint() {
        let found = errors(chainYAML(upstreams: "      - { id: a, url: ${URL}, labels: { provider: p, cloud: c, region: r } }"), ["URL": "https://a"])
        #expect(found.count == 1)
        #expect(found.first?.message.contains("quote values that use ${...}") == true, "\(found)")
    }
}

@Suite struct SecretsStayOutOfMessagesTests {
    static let secrets = [
        "sk_live_4f9a8b7c6d5e4f3a",     // a literal API key
        "admin-7c1e9d0b2a",             // a literal admin key, reused as a client key
        "0123456789abcdef0123456789ab", // a key inside a literal URL
        "envsecret-81f0aa",             // a value from the environment
        "hunter2-pw",                   // a password in a postgres URL
        "bearer-55aa",                  // a header value
    ]

    @Test func noMessageQuotesASecretValue() {
        let yaml = """
            cache:
              store: postgres
              url: mysql://bulwark:hunter2-pw@db/bulwark
            auth:
              adminKey: admin-7c1e9d0b2a
              keys:
                - { key: sk_live_4f9a8b7c6d5e4f3a, name: one, rps: "${RPS}" }
                - { key: sk_live_4f9a8b7c6d5e4f3a, name: two }
                - { key: admin-7c1e9d0b2a, name: three }
            chains:
              - name: eth
                chainId: 1
                upstreams:
                  - id: a
                    url: "ftp://mainnet.infura.io/v3/0123456789abcdef0123456789ab"
                    ws: "${WS_URL}"
                    headers: { Authorization: "Bearer bearer-55aa\\nX-Evil: 1" }
                    labels: { provider: infura, cloud: aws, region: "${REGION}" }
            """
        let environment = ["RPS": "envsecret-81f0aa", "WS_URL": "not a url envsecret-81f0aa", "REGION": "envsecret-81f0aa us"]
        let found = errors(yaml, environment)
        #expect(found.count >= 8, "\(found)")
        let text = ConfigurationErrors(found).description
        for secret in Self.secrets {
            #expect(!text.contains(secret), "\(secret) appears in: \(text)")
        }
        // They say where the problem is and which variable it came from instead.
        #expect(found.contains { $0.path == "auth.keys[0].rps" && $0.message == "expected a number, got the value of ${RPS}" })
        #expect(found.contains { $0.path == "chains[0].upstreams[0].ws" && $0.message.contains("(after replacing ${WS_URL})") })
        #expect(found.contains { $0.path == "chains[0].upstreams[0].labels.region" && $0.message.contains("the value of ${REGION}") })
        #expect(found.contains { $0.path == "auth.keys[1].key" })
        #expect(found.contains { $0.path == "auth.adminKey" })
        #expect(found.contains { $0.path == "chains[0].upstreams[0].headers.Authorization" && $0.message == "the value contains a line break" })
    }

    @Test func aSyntaxErrorDoesNotQuoteTheLine() {
        let found = errors("auth:\n  adminKey: sk_live_4f9a8b7c6d5e4f3a: oops\n")
        #expect(found.count == 1)
        #expect(found.first?.message.hasPrefix("not valid YAML: line 2") == true, "\(found)")
        #expect(!found.description.contains("sk_live_4f9a8b7c6d5e4f3a"))
    }
}
