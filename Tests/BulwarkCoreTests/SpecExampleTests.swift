import Testing
import BulwarkCore

/// The configuration example of SPEC section 2, verbatim.
let specExampleYAML = #"""
        server:
          listen: "127.0.0.1:8545"        # host:port
          maxBodyBytes: 1048576
          maxBatchSize: 100
          requestTimeout: 10s             # whole client request, all retries included
        cache:
          store: sqlite                   # none | memory | sqlite | postgres
          path: ./bulwark-cache.sqlite    # sqlite
          url: postgres://user@127.0.0.1/bulwark   # postgres
          staleIfError: 5m                # serve a cached answer up to this old when no upstream can answer
        auth:                             # optional; absent = open gateway
          adminKey: ${ADMIN_KEY}          # for /admin/* endpoints
          keys:
            - key: ${WITHDRAWALS_KEY}
              name: withdrawals
              priority: critical          # critical | normal | bulk: who is shed last under overload
              rps: 200
              burst: 400                  # token-bucket size; default = rps
        chains:
          - name: eth                     # route: POST /eth (and POST / when only one chain)
            kind: evm                     # evm | bitcoin
            chainId: 1
            finalityDepth: 64             # blocks below head treated as final (when the chain has no 'finalized' tag)
            verify: false                 # true: verified reads (section 5)
            methods:                      # optional; absent = everything a node serves
              allow: [eth_*, net_version, web3_clientVersion]   # '*' wildcard at the end
              deny: [debug_*, admin_*, personal_*]
            upstreams:
              - id: infura-1
                url: https://mainnet.infura.io/v3/${INFURA_KEY}
                ws: wss://mainnet.infura.io/ws/v3/${INFURA_KEY}   # optional
                labels: { provider: infura, cloud: aws, region: us-east-1 }
                maxRps: 50
                maxBatch: 100                                      # optional: forward client batches as batches of up to 100
                headers: { Authorization: "Bearer ${TOKEN}" }     # optional
              - id: own-node
                url: http://10.0.0.5:8545
                labels: { provider: self, cloud: hetzner, region: fsn1 }
        """#

/// Values for the variables the SPEC example references; each is a recognisable secret.
let specEnvironment = [
    "ADMIN_KEY": "admin-secret-a1b2c3",
    "WITHDRAWALS_KEY": "withdrawals-secret-d4e5f6",
    "INFURA_KEY": "0123456789abcdef0123456789abcdef",
    "TOKEN": "bearer-secret-g7h8i9",
]

func parse(_ yaml: String, _ environment: [String: String] = [:]) throws(ConfigurationErrors) -> GatewayConfiguration {
    try GatewayConfiguration.parse(yaml: yaml, environment: environment)
}

/// The errors `yaml` produces (none when it is valid).
func errors(_ yaml: String, _ environment: [String: String] = [:]) -> [ConfigurationError] {
    do {
        _ = try parse(yaml, environment)
        return []
    } catch {
        return error.errors
    }
}

@Suite struct SpecExampleTests {
    @Test func parsesTheSpecExampleIntoTheExpectedModel() throws {
        let configuration = try parse(specExampleYAML, specEnvironment)
        let expected = GatewayConfiguration(
            server: .init(listen: .init(host: "127.0.0.1", port: 8545), maxBodyBytes: 1_048_576, maxBatchSize: 100,
                          requestTimeout: .seconds(10)),
            cache: .init(store: .sqlite, path: "./bulwark-cache.sqlite", url: "postgres://user@127.0.0.1/bulwark",
                         staleIfError: .seconds(300)),
            auth: .init(adminKey: "admin-secret-a1b2c3", keys: [
                .init(key: "withdrawals-secret-d4e5f6", name: "withdrawals", priority: .critical, rps: 200, burst: 400),
            ]),
            chains: [
                .init(
                    name: "eth", kind: .evm, chainId: 1, finalityDepth: 64, verify: false,
                    methods: .init(allow: ["eth_*", "net_version", "web3_clientVersion"], deny: ["debug_*", "admin_*", "personal_*"]),
                    upstreams: [
                        .init(id: "infura-1",
                              url: "https://mainnet.infura.io/v3/0123456789abcdef0123456789abcdef",
                              ws: "wss://mainnet.infura.io/ws/v3/0123456789abcdef0123456789abcdef",
                              labels: .init(provider: "infura", cloud: "aws", region: "us-east-1"),
                              maxRps: 50, maxBatch: 100,
                              headers: ["Authorization": "Bearer bearer-secret-g7h8i9"]),
                        .init(id: "own-node", url: "http://10.0.0.5:8545",
                              labels: .init(provider: "self", cloud: "hetzner", region: "fsn1")),
                    ],
                    maxLag: 4
                ),
            ]
        )
        #expect(configuration == expected)
        #expect(configuration.failureDomains.map(\.description).sorted() == ["infura/aws/us-east-1", "self/hetzner/fsn1"])
        #expect(configuration.chain(named: "eth")?.upstreams.count == 2)
    }

    @Test func specExampleMethodPolicyAllowsAndDeniesAsWritten() throws {
        let policy = try #require(try parse(specExampleYAML, specEnvironment).chains[0].methods)
        for method in ["eth_call", "eth_getBalance", "net_version", "web3_clientVersion"] {
            #expect(policy.allows(method), "\(method)")
        }
        for method in ["debug_traceTransaction", "admin_peers", "personal_sign", "txpool_content", "net_peerCount"] {
            #expect(!policy.allows(method), "\(method)")
        }
    }

    @Test func specExampleWithoutItsVariablesNamesEachOneWithItsPath() {
        let found = errors(specExampleYAML).map(\.description)
        #expect(found == [
            "auth.adminKey: environment variable ADMIN_KEY is not set",
            "auth.keys[0].key: environment variable WITHDRAWALS_KEY is not set",
            "chains[0].upstreams[0].url: environment variable INFURA_KEY is not set",
            "chains[0].upstreams[0].ws: environment variable INFURA_KEY is not set",
            "chains[0].upstreams[0].headers.Authorization: environment variable TOKEN is not set",
        ])
    }

    @Test func specExampleReferencesItsFourVariables() {
        #expect(GatewayConfiguration.environmentVariables(referencedBy: specExampleYAML) == ["ADMIN_KEY", "WITHDRAWALS_KEY", "INFURA_KEY", "TOKEN"])
    }
}
