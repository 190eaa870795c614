import Testing
@testable import Failsafe

@Suite("FailureDomain")
struct FailureDomainTests {
    @Test func allThreeLabelsMakeTheDomain() {
        let sameProviderOtherRegion = FailureDomain(provider: "alchemy", cloud: "aws", region: "eu-west-1")
        #expect(domainA != sameProviderOtherRegion)
        #expect(domainA == FailureDomain(provider: "alchemy", cloud: "aws", region: "us-east-1"))
        #expect(domainA.description == "alchemy/aws/us-east-1")
        #expect([domainB, domainA, sameProviderOtherRegion].sorted() == [sameProviderOtherRegion, domainA, domainB])
    }
}
