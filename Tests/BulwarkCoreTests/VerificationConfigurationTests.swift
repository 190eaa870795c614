import Testing
import BulwarkCore

/// Two upstreams in two failure domains: enough for the default quorum of two.
let twoDomainUpstreams = """
          - { id: a, url: "https://a.example", labels: { provider: alpha, cloud: aws, region: us-east-1 } }
          - { id: b, url: "https://b.example", labels: { provider: beta, cloud: gcp, region: europe-west1 } }
    """

/// A chain with two failure domains and `verify` written as `value`.
func verifyYAML(_ value: String, upstreams: String = twoDomainUpstreams) -> String {
    chainYAML(extra: "\n    verify: \(value)", upstreams: upstreams)
}

let invalidVerificationCases: [InvalidCase] = [
    .init(yaml: verifyYAML("{ quorumDomains: 1 }"), path: "chains[0].verify.quorumDomains", message: "must be at least 2, got 1"),
    .init(yaml: verifyYAML("{ quorumDomains: two }"), path: "chains[0].verify.quorumDomains", message: "expected a whole number, got 'two'"),
    .init(yaml: verifyYAML("{ quorumDomains: 3 }"), path: "chains[0].verify.quorumDomains",
          message: "verified reads need 3 distinct failure domains to return the same block hash, but this chain's upstreams are in only 2 failure domains"),
    .init(yaml: verifyYAML("{ coolingPeriod: 0s }"), path: "chains[0].verify.coolingPeriod", message: "must be longer than zero"),
    .init(yaml: verifyYAML("{ coolingPeriod: soon }"), path: "chains[0].verify.coolingPeriod",
          message: "expected a duration with a unit (ms, s, m or h), e.g. 500ms, 10s, 5m; got 'soon'"),
    .init(yaml: verifyYAML("{ enabled: true, quorum: 2 }"), path: "chains[0].verify.quorum",
          message: "unknown key (known keys here: enabled, quorumDomains, coolingPeriod)"),
    .init(yaml: verifyYAML("{ coolingperiod: 30s }"), path: "chains[0].verify.coolingperiod", message: "unknown key; did you mean 'coolingPeriod'?"),
    .init(yaml: verifyYAML("{ enabled: maybe }"), path: "chains[0].verify.enabled", message: "expected true or false, got 'maybe'"),
    .init(yaml: verifyYAML("maybe"), path: "chains[0].verify",
          message: "expected true or false, got 'maybe' (or a mapping with keys enabled, quorumDomains, coolingPeriod)"),
    // The short form is the block with its defaults, so a chain in one failure domain cannot meet it either.
    .init(yaml: chainYAML(extra: "\n    verify: true"), path: "chains[0].verify",
          message: "verified reads need 2 distinct failure domains to return the same block hash, but this chain's upstreams are in only 1 failure domain"),
    .init(yaml: chainYAML(extra: "\n    verify: {}"), path: "chains[0].verify", message: "only 1 failure domain"),
    .init(yaml: chainYAML(extra: "\n    kind: bitcoin\n    verify: { quorumDomains: 3 }"), path: "chains[0].verify", message: "only for kind evm"),
]

@Suite struct VerificationConfigurationTests {
    @Test func trueAndFalseAreOnAndOffWithTheDefaults() throws {
        let on = try parse(verifyYAML("true")).chains[0].verify
        #expect(on.enabled && on.quorumDomains == 2 && on.coolingPeriod == .seconds(60))
        #expect(on == true)
        let off = try parse(verifyYAML("false")).chains[0].verify
        #expect(!off.enabled && off.quorumDomains == 2 && off.coolingPeriod == .seconds(60))
        #expect(off == .off)
        #expect(try parse(verifyYAML("False")).chains[0].verify == .off)
    }

    @Test func aBlockSetsEachSetting() throws {
        let chain = try parse(verifyYAML("{ enabled: true, quorumDomains: 3, coolingPeriod: 2m }", upstreams: twoDomainUpstreams + """

                  - { id: c, url: "http://10.0.0.5:8545", labels: { provider: self, cloud: hetzner, region: fsn1 } }
            """)).chains[0]
        #expect(chain.verify == GatewayConfiguration.Verification(enabled: true, quorumDomains: 3, coolingPeriod: .seconds(120)))
    }

    @Test func aBlockIsOnByDefaultAndFillsInTheRest() throws {
        #expect(try parse(verifyYAML("{}")).chains[0].verify == .init(enabled: true, quorumDomains: 2, coolingPeriod: .seconds(60)))
        #expect(try parse(verifyYAML("{ coolingPeriod: 1500ms }")).chains[0].verify == .init(enabled: true, coolingPeriod: .milliseconds(1500)))
        let multiline = try parse(chainYAML(extra: "\n    verify:\n      quorumDomains: 2", upstreams: twoDomainUpstreams)).chains[0].verify
        #expect(multiline == .init(enabled: true, quorumDomains: 2))
    }

    /// Switched off, the block keeps its settings and its quorum is not held against the upstreams.
    @Test func aDisabledBlockKeepsItsSettingsAndNeedsNoQuorum() throws {
        let verify = try parse(chainYAML(extra: "\n    verify: { enabled: false, quorumDomains: 5, coolingPeriod: 10s }")).chains[0].verify
        #expect(verify == .init(enabled: false, quorumDomains: 5, coolingPeriod: .seconds(10)))
    }

    @Test func anAbsentOrNullBlockIsOff() throws {
        #expect(try parse(chainYAML()).chains[0].verify == .off)
        #expect(try parse(chainYAML(extra: "\n    verify:")).chains[0].verify == .off)
    }

    @Test(arguments: invalidVerificationCases)
    func eachVerificationRuleReportsItsPathAndReason(_ invalid: InvalidCase) {
        let found = errors(invalid.yaml)
        #expect(found.count == 1, "\(found)")
        #expect(found.first?.path == invalid.path, "\(found)")
        #expect(found.first?.message.contains(invalid.message) == true, "\(found)")
    }

    /// The quorum can be lowered down to two; below that, only more failure domains (or no verification) help.
    @Test func theMessageSaysWhatToChange() {
        #expect(errors(verifyYAML("{ quorumDomains: 3 }")).first?.message.hasSuffix("add upstreams in other failure domains or lower quorumDomains") == true)
        #expect(errors(chainYAML(extra: "\n    verify: true")).first?.message.hasSuffix("add upstreams in other failure domains or turn verify off") == true)
    }

    /// Upstreams in error leave the domain count unknown: only their own errors are reported.
    @Test func theQuorumIsNotCheckedAgainstUpstreamsInError() {
        let found = errors(verifyYAML("{ quorumDomains: 2 }", upstreams: """
                  - { id: a, url: "https://a.example", labels: { provider: alpha, cloud: aws, region: us-east-1 } }
                  - { id: b, url: "https://b.example", labels: { provider: beta, cloud: gcp } }
            """))
        #expect(found.map(\.path) == ["chains[0].upstreams[1].labels.region"])
    }

    @Test func errorsInSeveralChainsEachNameTheirChain() {
        let found = errors("""
            chains:
              - name: eth
                chainId: 1
                verify: { quorumDomains: 1, coolingPeriod: 0s }
                upstreams:
                  - { id: a, url: "https://a.example", labels: { provider: alpha, cloud: aws, region: us-east-1 } }
              - name: base
                chainId: 8453
                verify: { quorumDomains: 4 }
                upstreams:
                  - { id: b, url: "https://b.example", labels: { provider: alpha, cloud: aws, region: us-east-1 } }
                  - { id: c, url: "https://c.example", labels: { provider: beta, cloud: aws, region: us-east-1 } }
                  - { id: d, url: "https://d.example", labels: { provider: beta, cloud: aws, region: us-east-1 } }
            """)
        #expect(found.map(\.path) == ["chains[0].verify.quorumDomains", "chains[0].verify.coolingPeriod", "chains[1].verify.quorumDomains"])
        #expect(found.last?.message.contains("only 2 failure domains") == true, "\(found)")
    }

    /// The audit warns when a failure leaves fewer failure domains than the chain's quorum.
    @Test func theAuditUsesTheChainsQuorum() throws {
        let audit = FailureDomainAudit(try parse(verifyYAML("{ quorumDomains: 3 }", upstreams: twoDomainUpstreams + """

                  - { id: c, url: "http://10.0.0.5:8545", labels: { provider: self, cloud: hetzner, region: fsn1 } }
            """)))
        #expect(audit.chains[0].quorumDomains == 3)
        let provider = try #require(audit.scenarios.first { $0.title == "provider alpha" })
        #expect(provider.impacts.map(\.verifiedReadsStop) == [true])
        #expect(audit.renderText().contains("2 left in 2 failure domains; verified reads stop (they need 3 failure domains to agree)"))
    }
}
