import EthereumKit
import Testing
import BulwarkCore

/// `eth` has every upstream in aws/us-east-1 (two providers); `base` is spread over two clouds.
let unsafeYAML = """
    chains:
      - name: eth
        chainId: 1
        upstreams:
          - { id: infura-eth, url: "https://infura.example/eth", labels: { provider: infura, cloud: aws, region: us-east-1 } }
          - { id: alchemy-eth, url: "https://alchemy.example/eth", labels: { provider: alchemy, cloud: aws, region: us-east-1 } }
      - name: base
        chainId: 8453
        upstreams:
          - { id: infura-base, url: "https://infura.example/base", labels: { provider: infura, cloud: aws, region: us-east-1 } }
          - { id: own-base, url: "http://10.0.0.7:8545", labels: { provider: self, cloud: hetzner, region: fsn1 } }
    """

/// Three upstreams in three providers, clouds and regions.
let safeYAML = """
    chains:
      - name: eth
        chainId: 1
        verify: true
        upstreams:
          - { id: infura-eth, url: "https://infura.example/eth", labels: { provider: infura, cloud: aws, region: us-east-1 } }
          - { id: alchemy-eth, url: "https://alchemy.example/eth", labels: { provider: alchemy, cloud: gcp, region: us-central1 } }
          - { id: own-eth, url: "http://10.0.0.5:8545", labels: { provider: self, cloud: hetzner, region: fsn1 } }
    """

@Suite struct FailureDomainAuditTests {
    @Test func unsafeWhenOneRegionHoldsEveryUpstreamOfAChain() throws {
        let audit = FailureDomainAudit(try parse(unsafeYAML))
        #expect(!audit.isSafe)
        #expect(audit.upstreamCount == 4)
        #expect(audit.failureDomainCount == 3)
        #expect(audit.unsafeScenarios.map(\.title) == ["cloud aws", "region aws/us-east-1"])
        #expect(audit.unsafeScenarios.allSatisfy { $0.unavailableChains == ["eth"] })

        let cloud = try #require(audit.scenarios.first { $0.level == .cloud && $0.name == "aws" })
        #expect(cloud.match == ["cloud": "aws"])
        #expect(cloud.upstreamIDs == ["infura-eth", "alchemy-eth", "infura-base"])
        #expect(cloud.impacts.map(\.chain) == ["eth", "base"])
        #expect(cloud.impacts[0].isUnavailable)
        #expect(cloud.impacts[1].lost == 1 && cloud.impacts[1].total == 2 && cloud.impacts[1].remaining == 1)
        let region = try #require(audit.scenarios.first { $0.level == .region })
        #expect(region.match == ["cloud": "aws", "region": "us-east-1"])

        // A single provider failure is survivable: infura takes one of eth's two.
        let infura = try #require(audit.scenarios.first { $0.title == "provider infura" })
        #expect(infura.impacts.map(\.lost) == [1, 1])
        #expect(!infura.leavesAChainWithoutUpstreams)
    }

    @Test func sharesCountUpstreamsPerProviderCloudAndRegion() throws {
        let audit = FailureDomainAudit(try parse(unsafeYAML))
        #expect(audit.providerShares.map(\.name) == ["infura", "alchemy", "self"])
        #expect(audit.providerShares.map(\.upstreams) == [2, 1, 1])
        #expect(audit.providerShares.map(\.percent) == [50, 25, 25])
        #expect(audit.cloudShares.map(\.name) == ["aws", "hetzner"])
        #expect(audit.cloudShares.map(\.percent) == [75, 25])
        #expect(audit.regionShares.map(\.name) == ["aws/us-east-1", "hetzner/fsn1"])
    }

    @Test func textReportNamesTheFailingDomainSaysHowToFixItAndEndsWithTheVerdict() throws {
        let text = FailureDomainAudit(try parse(unsafeYAML)).renderText()
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines.first == "Failure-domain audit: 2 chains, 4 upstreams in 3 failure domains")
        #expect(lines.contains("  aws      3   75.0%"), "\(text)")
        #expect(lines.contains("  cloud aws or region aws/us-east-1 (3 upstreams)"))
        #expect(lines.contains("    eth   becomes unavailable: loses all 2 upstreams"))
        #expect(lines.contains("    base  loses 1 of 2 upstreams: 1 left in 1 failure domain"))
        #expect(lines.contains("  eth: all 2 upstreams are in cloud aws; add one in another cloud (or on your own hardware)"))
        #expect(text.hasSuffix("\nverdict: unsafe: eth becomes unavailable if cloud aws or region aws/us-east-1 fails\n"))
    }

    @Test func scenariosThatTakeOutTheSameUpstreamsAreReportedOnce() throws {
        let text = FailureDomainAudit(try parse(unsafeYAML)).renderText()
        #expect(text.contains("  provider self, cloud hetzner, region hetzner/fsn1 or failure domain self/hetzner/fsn1 (1 upstream)\n    base  loses 1 of 2"))
        #expect(text.contains("  provider alchemy or failure domain alchemy/aws/us-east-1 (1 upstream)"))
    }

    @Test func safeWhenEveryChainSurvivesAnySingleFailure() throws {
        let audit = FailureDomainAudit(try parse(safeYAML))
        #expect(audit.isSafe)
        #expect(audit.scenarios.count == 12)  // 3 providers, 3 clouds, 3 regions, 3 failure domains
        #expect(audit.scenarios.allSatisfy { $0.impacts == [.init(chain: "eth", lost: 1, total: 3, remainingFailureDomains: 2, verifiedReadsStop: false)] })
        let text = audit.renderText()
        #expect(text.contains("    eth  loses 1 of 3 upstreams: 2 left in 2 failure domains\n"))
        #expect(!text.contains("To fix"))
        #expect(text.hasSuffix("\nverdict: safe: no single provider, cloud, region or failure domain failure leaves a chain without upstreams\n"))
    }

    @Test func aSingleProviderChainIsToldToAddAnotherProvider() throws {
        let audit = FailureDomainAudit(try parse("""
            chains:
              - name: eth
                chainId: 1
                upstreams:
                  - { id: a, url: "https://a.example", labels: { provider: infura, cloud: aws, region: us-east-1 } }
                  - { id: b, url: "https://b.example", labels: { provider: infura, cloud: gcp, region: us-east1 } }
            """))
        #expect(audit.unsafeScenarios.map(\.title) == ["provider infura"])
        #expect(audit.renderText().contains("  eth: all 2 upstreams are from provider infura; add one from another provider\n"))
    }

    @Test func verifiedChainsAreWarnedWhenOneFailureDomainIsLeft() throws {
        let audit = FailureDomainAudit(try parse("""
            chains:
              - name: eth
                chainId: 1
                verify: true
                upstreams:
                  - { id: a, url: "https://a.example", labels: { provider: infura, cloud: aws, region: us-east-1 } }
                  - { id: b, url: "https://b.example", labels: { provider: alchemy, cloud: gcp, region: us-east1 } }
            """))
        #expect(audit.isSafe)
        #expect(audit.scenarios.allSatisfy { $0.impacts.allSatisfy(\.verifiedReadsStop) })
        #expect(audit.renderText().contains("1 left in 1 failure domain; verified reads stop (they need 2 failure domains to agree)"))
    }

    @Test func jsonHasStableKeysAndTheSameNumbers() throws {
        let audit = FailureDomainAudit(try parse(unsafeYAML))
        let json = try JSONValue.parse(Array(audit.renderJSON().utf8))
        #expect(json["safe"] == .bool(false))
        #expect(json["upstreams"] == .number(4))
        #expect(json["failureDomains"] == .number(3))
        #expect(json["chains"]?.arrayValue?.map { $0["name"] } == [.string("eth"), .string("base")])
        #expect(json["shares"]?["cloud"] == .array([
            .object(["name": .string("aws"), "upstreams": .number(3), "percent": .number(75)]),
            .object(["name": .string("hetzner"), "upstreams": .number(1), "percent": .number(25)]),
        ]))
        #expect(json["unsafe"] == .array([
            .object(["level": .string("cloud"), "name": .string("aws"), "match": .object(["cloud": .string("aws")]), "chains": .array([.string("eth")])]),
            .object(["level": .string("region"), "name": .string("aws/us-east-1"),
                     "match": .object(["cloud": .string("aws"), "region": .string("us-east-1")]), "chains": .array([.string("eth")])]),
        ]))
        let cloud = try #require(json["scenarios"]?.arrayValue?.first { $0["name"] == .string("aws") })
        #expect(cloud["level"] == .string("cloud"))
        #expect(cloud["leavesChainWithoutUpstreams"] == .bool(true))
        #expect(cloud["upstreamIds"] == .array([.string("infura-eth"), .string("alchemy-eth"), .string("infura-base")]))
        #expect(cloud["chains"]?.arrayValue?.first == .object([
            "chain": .string("eth"), "lost": .number(2), "total": .number(2), "remaining": .number(0),
            "remainingFailureDomains": .number(0), "unavailable": .bool(true), "verifiedReadsStop": .bool(false),
        ]))
        #expect(json["verdict"] == .string(audit.verdict))
        #expect(json["scenarios"]?.arrayValue?.count == audit.scenarios.count)
    }

    @Test func percentagesRoundToOneDecimal() throws {
        let audit = FailureDomainAudit(try parse(safeYAML))
        let json = try JSONValue.parse(Array(audit.renderJSON().utf8))
        #expect(json["shares"]?["provider"]?.arrayValue?.first?["percent"] == .number(33.3))
        #expect(audit.renderText().contains("  alchemy  1   33.3%"))
    }
}
