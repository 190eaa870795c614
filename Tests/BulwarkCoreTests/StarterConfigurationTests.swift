import Testing
import BulwarkCore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Values for the variables the starter config references.
let starterEnvironment = [
    "INFURA_KEY": "0123456789abcdef0123456789abcdef",
    "ALCHEMY_KEY": "Ab1_cdEFgh-IJklMNop2qrSTuv",
    "QUICKNODE_ETH_URL": "https://black-frost.quiknode.pro/0123456789abcdef0123456789abcdef01234567/",
    "QUICKNODE_BASE_URL": "https://white-sun.base-mainnet.quiknode.pro/89abcdef0123456789abcdef0123456789abcdef/",
]

@Suite struct StarterConfigurationTests {
    @Test func isValidWithItsVariablesSetAndKeepsEveryDefault() throws {
        let configuration = try parse(GatewayConfiguration.starterYAML, starterEnvironment)
        #expect(configuration.server == GatewayConfiguration.Server())
        #expect(configuration.cache == GatewayConfiguration.Cache())
        #expect(configuration.auth == nil)
        #expect(configuration.chains.map(\.name) == ["eth", "base"])
        #expect(configuration.chains.map(\.chainId) == [1, 8453])
        for chain in configuration.chains {
            #expect(chain.kind == .evm && chain.finalityDepth == 64 && chain.maxLag == 4 && chain.verify == .off && chain.methods == nil)
        }
        #expect(configuration.upstreams.count == 7)
        #expect(configuration.failureDomains.count == 4)
        #expect(configuration.chains[0].upstreams[0].ws == "wss://mainnet.infura.io/ws/v3/0123456789abcdef0123456789abcdef")
    }

    @Test func survivesAnySingleProviderCloudOrRegionFailure() throws {
        let audit = FailureDomainAudit(try parse(GatewayConfiguration.starterYAML, starterEnvironment))
        #expect(audit.isSafe, "\(audit.renderText())")
        #expect(Set(audit.providerShares.map(\.name)) == ["infura", "alchemy", "quicknode", "self"])
        #expect(audit.cloudShares.count == 3)
    }

    @Test func referencesOnlyTheProviderKeysAndNamesEachWhenUnset() {
        #expect(GatewayConfiguration.environmentVariables(referencedBy: GatewayConfiguration.starterYAML)
            == ["INFURA_KEY", "ALCHEMY_KEY", "QUICKNODE_ETH_URL", "QUICKNODE_BASE_URL"])
        let messages = Set(errors(GatewayConfiguration.starterYAML).map(\.message))
        #expect(messages == Set(starterEnvironment.keys.map { "environment variable \($0) is not set" }))
    }

    /// The options shown commented out are valid too, once uncommented. One shown right below the
    /// same option is its other form (`verify: false`, then the `verify:` block) and takes its place.
    @Test func everyCommentedOutOptionIsValidWhenUncommented() throws {
        var lines: [String] = []
        for line in GatewayConfiguration.starterYAML.split(separator: "\n", omittingEmptySubsequences: false) {
            guard let hash = line.firstIndex(of: "#"), line[..<hash].allSatisfy({ $0 == " " }) else { lines.append(String(line)); continue }
            let rest = line[line.index(after: hash)...].dropFirst()  // "# " → ""
            let isOption = rest.drop { $0 == " " || $0 == "-" }.prefix { $0.isLetter }.count > 0
                && rest.drop { $0 == " " || $0 == "-" }.drop { $0.isLetter }.hasPrefix(":")
            guard isOption else { lines.append(String(line)); continue }
            let option = String(line[..<hash]) + rest
            if let previous = lines.last, previous.prefix(while: { $0 != ":" }) == option.prefix(while: { $0 != ":" }) {
                lines.removeLast()
            }
            lines.append(option)
        }
        let uncommented = lines.joined(separator: "\n")
        #expect(uncommented.contains("\n    verify:  ") && !uncommented.contains("verify: false               # true"))
        #expect(uncommented.contains("\nauth: ") && uncommented.contains("\n  adminKey: ${BULWARK_ADMIN_KEY}"))
        var environment = starterEnvironment
        environment["BULWARK_ADMIN_KEY"] = "admin-key"
        environment["WITHDRAWALS_API_KEY"] = "client-key"
        environment["INFURA_JWT"] = "jwt"
        let configuration = try parse(uncommented, environment)
        #expect(configuration.cache.url == "postgres://bulwark@127.0.0.1/bulwark")
        #expect(configuration.cache.staleIfError == .seconds(300))
        #expect(configuration.auth?.keys == [GatewayConfiguration.APIKey(key: "client-key", name: "withdrawals", priority: .normal, rps: 100, burst: 100,
                                                                          methods: .init(allow: ["eth_*"], deny: ["eth_sendRawTransaction"]))])
        #expect(configuration.auth?.keys.first?.methods?.allows("eth_sendRawTransaction") == false)
        #expect(configuration.chains[0].methods?.allows("eth_call") == true)
        #expect(configuration.chains[0].methods?.allows("debug_traceCall") == false)
        #expect(configuration.chains[0].upstreams[0].maxRps == 50)
        #expect(configuration.chains[0].upstreams[0].headers == ["Authorization": "Bearer jwt"])
        // The verify block shows the defaults: on, two failure domains, a minute's cooling period.
        #expect(configuration.chains[0].verify == GatewayConfiguration.Verification(enabled: true, quorumDomains: 2, coolingPeriod: .seconds(60)))
        #expect(configuration.chains[1].verify == .off)
    }

    @Test func theExampleFileIsTheStarterConfig() throws {
        let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("examples/bulwark.example.yaml")
        let text = try String(contentsOf: example, encoding: .utf8)
        #expect(text == GatewayConfiguration.starterYAML)
    }
}
