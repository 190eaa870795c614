import Testing
import BulwarkCore

/// A small valid configuration: one chain, two upstreams in different clouds.
let minimalYAML = """
    chains:
      - name: eth
        chainId: 1
        upstreams:
          - id: a
            url: https://a.example/rpc
            labels: { provider: alpha, cloud: aws, region: us-east-1 }
          - id: b
            url: https://b.example/rpc
            labels: { provider: beta, cloud: gcp, region: europe-west1 }
    """

@Suite struct ConfigurationDefaultsTests {
    @Test func absentOptionsTakeTheirDocumentedDefaults() throws {
        let configuration = try parse(minimalYAML)
        #expect(configuration.server.listen == .init(host: "127.0.0.1", port: 8545))
        #expect(configuration.server.maxBodyBytes == 1_048_576)
        #expect(configuration.server.maxBatchSize == 100)
        #expect(configuration.server.requestTimeout == .seconds(10))
        #expect(configuration.cache == .init(store: .sqlite, path: "./bulwark-cache.sqlite", url: nil, staleIfError: nil, maxBytes: 1 << 30))
        #expect(configuration.auth == nil)
        let chain = configuration.chains[0]
        #expect(chain.kind == .evm)
        #expect(chain.finalityDepth == 64)
        #expect(chain.maxLag == 4)
        #expect(chain.verify == .off)
        #expect(chain.methods == nil)
        #expect(chain.methods?.allows("debug_traceCall") ?? true)
        #expect(chain.upstreams[0].ws == nil && chain.upstreams[0].maxRps == nil && chain.upstreams[0].headers.isEmpty)
        #expect(!chain.upstreams[0].http2, "HTTP/1.1 unless asked")
    }

    @Test func protocolHTTP2IsReadAndWrongOrClashingValuesAreNamed() throws {
        // `fields` added to the first upstream of the minimal configuration.
        let yaml = { (fields: String) in
            minimalYAML.replacingOccurrences(of: "region: us-east-1 }", with: "region: us-east-1 }\n" + fields)
        }
        #expect(try parse(yaml("        protocol: http2")).chains[0].upstreams[0].http2)
        #expect(try !parse(yaml("        protocol: http1")).chains[0].upstreams[0].http2)
        let wrong = errors(yaml("        protocol: h3"))
        #expect(wrong.map(\.path) == ["chains[0].upstreams[0].protocol"] && wrong[0].message.contains("http1 (the default) or http2"), "\(wrong)")
        let clash = errors(yaml("        protocol: http2\n        pipeline: 8"))
        #expect(clash.map(\.path) == ["chains[0].upstreams[0].pipeline"], "\(clash)")
    }

    @Test func burstDefaultsToRPSAndPriorityToNormal() throws {
        let configuration = try parse(minimalYAML + """

            auth:
              keys:
                - { key: k1, name: one, rps: 25 }
                - { key: k2, name: two }
            """)
        let keys = try #require(configuration.auth).keys
        #expect(keys[0].priority == .normal)
        #expect(keys[0].burst == 25)
        #expect(keys[1].rps == nil && keys[1].burst == nil)
        #expect(configuration.auth?.adminKey == nil)
        #expect(configuration.auth?.apiKey("k2")?.name == "two")
    }

    @Test func nullSectionsCountAsAbsent() throws {
        let configuration = try parse("server:\ncache: ~\nauth:\n" + minimalYAML)
        #expect(configuration.server == .init())
        #expect(configuration.auth == nil)
    }

    @Test(arguments: [
        ("127.0.0.1:8545", "127.0.0.1", 8545),
        ("0.0.0.0:80", "0.0.0.0", 80),
        ("[::1]:9000", "::1", 9000),
        ("gateway.internal:0", "gateway.internal", 0),
    ])
    func listenAcceptsHostAndPort(text: String, host: String, port: Int) throws {
        let configuration = try parse("server: { listen: \"\(text)\" }\n" + minimalYAML)
        #expect(configuration.server.listen == .init(host: host, port: port))
        #expect(configuration.server.listen.description == text)
    }

    @Test func chainIdMayBeHexAndBitcoinNeedsNone() throws {
        let configuration = try parse("""
            chains:
              - name: base
                chainId: "0x2105"
                upstreams: [{ id: a, url: "https://a.example", labels: { provider: p, cloud: c, region: r } }]
              - name: btc
                kind: bitcoin
                upstreams: [{ id: b, url: "http://b.example:8332", labels: { provider: p, cloud: c, region: r } }]
            """)
        #expect(configuration.chains[0].chainId == 8453)
        #expect(configuration.chains[1].kind == .bitcoin)
        #expect(configuration.chains[1].chainId == 0)
    }
}

@Suite struct DurationTests {
    @Test(arguments: [
        ("500ms", Duration.milliseconds(500)),
        ("10s", .seconds(10)),
        ("1.5s", .milliseconds(1500)),
        ("5m", .seconds(300)),
        ("1h", .seconds(3600)),
        ("1m30s", .seconds(90)),
        ("0.25ms", .microseconds(250)),
    ])
    func acceptsMillisecondsSecondsMinutesAndHours(text: String, duration: Duration) throws {
        let configuration = try parse("server: { requestTimeout: \(text) }\ncache: { staleIfError: \(text) }\n" + minimalYAML)
        #expect(configuration.server.requestTimeout == duration)
        #expect(configuration.cache.staleIfError == duration)
    }

    @Test(arguments: ["10", "10 s", "5d", "s", "fast", "-5s", "1.2.3s"])
    func refusesWhatIsNotADurationWithAUnit(text: String) {
        let found = errors("server: { requestTimeout: \"\(text)\" }\n" + minimalYAML)
        #expect(found.count == 1)
        #expect(found.first?.path == "server.requestTimeout")
        #expect(found.first?.message.hasPrefix("expected a duration with a unit (ms, s, m or h)") == true, "\(found)")
    }

    @Test func refusesZero() {
        #expect(errors("cache: { staleIfError: 0s }\n" + minimalYAML).map(\.description) == ["cache.staleIfError: must be longer than zero"])
    }

    @Test func cacheSizeBoundHasAStoreDependentDefaultAndAFloor() throws {
        #expect(try parse(minimalYAML).cache.maxBytes == 1 << 30)
        #expect(try parse("cache: { store: memory }\n" + minimalYAML).cache.maxBytes == 256 << 20)
        #expect(try parse("cache: { store: sqlite, maxBytes: 10_485_760 }\n" + minimalYAML).cache.maxBytes == 10 << 20)
        #expect(errors("cache: { maxBytes: 1000 }\n" + minimalYAML).map(\.path) == ["cache.maxBytes"])
        #expect(errors("cache: { maxBytes: lots }\n" + minimalYAML).map(\.path) == ["cache.maxBytes"])
    }
}

@Suite struct InterpolationTests {
    @Test func replacesEveryReferenceInAValue() throws {
        let configuration = try parse("""
            chains:
              - name: eth
                chainId: ${CHAIN_ID}
                upstreams:
                  - id: a
                    url: https://${HOST}:${PORT}/v1/${KEY}
                    labels: { provider: "${PROVIDER}", cloud: aws, region: us-east-1 }
                    maxRps: ${RPS}
                    maxBatch: 50
                    pipeline: ${DEPTH}
            """, ["CHAIN_ID": "10", "HOST": "rpc.example", "PORT": "8443", "KEY": "k", "PROVIDER": "acme", "RPS": "12.5", "DEPTH": "8"])
        let upstream = configuration.chains[0].upstreams[0]
        #expect(upstream.maxBatch == 50)
        #expect(upstream.pipeline == 8)
        #expect(configuration.chains[0].chainId == 10)
        #expect(upstream.url == "https://rpc.example:8443/v1/k")
        #expect(upstream.labels.provider == "acme")
        #expect(upstream.maxRps == 12.5)
    }

    @Test func doubleDollarWritesALiteralReferenceAndALoneDollarStays() throws {
        let configuration = try parse(minimalYAML + """

            auth:
              keys: [{ key: "pa$$word-$${NOT_A_VAR}-$", name: k }]
            """)
        #expect(configuration.auth?.keys[0].key == "pa$$word-${NOT_A_VAR}-$")
    }

    @Test func aMissingVariableIsAnErrorNamingItAndThePath() {
        let found = errors("""
            chains:
              - name: eth
                chainId: 1
                upstreams:
                  - id: a
                    url: https://mainnet.infura.io/v3/${INFURA_KEY}
                    labels: { provider: infura, cloud: aws, region: "${REGION}" }
            """, ["OTHER": "x"])
        #expect(found.map(\.description) == [
            "chains[0].upstreams[0].url: environment variable INFURA_KEY is not set",
            "chains[0].upstreams[0].labels.region: environment variable REGION is not set",
        ])
    }

    @Test func anEmptyVariableIsAnError() {
        let found = errors(minimalYAML + "\nauth: { keys: [{ key: \"${API_KEY}\", name: k }] }\n", ["API_KEY": ""])
        #expect(found.map(\.description) == ["auth.keys[0].key: environment variable API_KEY is set but empty"])
    }

    @Test(arguments: ["${UNCLOSED", "${1ABC}", "${}", "${A-B}"])
    func aMalformedReferenceIsAnError(reference: String) {
        let found = errors(minimalYAML + "\nauth: { keys: [{ key: \"x\(reference)\", name: k }] }\n")
        #expect(found.count == 1)
        #expect(found.first?.path == "auth.keys[0].key")
        #expect(found.first?.message.contains("reference is not closed or its name is not letters, digits and _") == true)
    }

    @Test func referencesInCommentsNeedNothing() throws {
        _ = try parse("# url: https://x/${NOT_SET}\n" + minimalYAML + "   # ${ALSO_NOT_SET}\n")
        #expect(GatewayConfiguration.environmentVariables(referencedBy: "# ${A}\nx: ${B}\ny: [\"${C}\", \"${B}\"]") == ["B", "C"])
    }

    @Test func aValueFromTheEnvironmentIsNotReadAsYAML() throws {
        let configuration = try parse("""
            chains:
              - name: eth
                chainId: 1
                upstreams:
                  - id: a
                    url: https://a.example
                    labels: { provider: p, cloud: c, region: r }
                    headers: { X-Token: "${TOKEN}" }
            """, ["TOKEN": "a: b # not a comment, [not, a, list]"])
        #expect(configuration.chains[0].upstreams[0].headers == ["X-Token": "a: b # not a comment, [not, a, list]"])
    }
}
