import Testing
@testable import Failsafe

@Suite("ConsensusHead")
struct ConsensusHeadTests {
    typealias Consensus = ConsensusHead<String, String>
    typealias Report = Consensus.Report

    static func report(_ id: String, _ domain: FailureDomain, _ number: UInt64, _ hash: String? = nil) -> Report {
        Report(id: id, domain: domain, number: number, hash: hash)
    }

    @Test func noReportsNoConsensus() {
        #expect(Consensus(reports: []) == nil)
    }

    @Test func aSingleProviderFarAheadDoesNotDefineTheHead() throws {
        let consensus = try #require(Consensus(reports: [
            Self.report("alchemy", domainA, 100),
            Self.report("quicknode", domainB, 100),
            Self.report("ankr", domainC, 150),
        ]))
        #expect(consensus.number == 100)
        #expect(consensus.agreeingDomains == [domainA, domainB, domainC])
        #expect(consensus.lagging.isEmpty, "being ahead is not lagging")
        #expect(!consensus.isSingleDomain)
    }

    @Test func twoUpstreamsOfOneDomainCannotConfirmAHeight() throws {
        let consensus = try #require(Consensus(reports: [
            Self.report("alchemy-1", domainA, 150),
            Self.report("alchemy-2", domainA, 150),
            Self.report("quicknode", domainB, 100),
        ]))
        #expect(consensus.number == 100)
    }

    @Test func theHeadIsTheHighestBlockTwoDomainsHaveReached() throws {
        let consensus = try #require(Consensus(reports: [
            Self.report("a", domainA, 100),
            Self.report("b", domainB, 98),
            Self.report("c", domainC, 95),
        ]))
        #expect(consensus.number == 98)
        #expect(consensus.agreeingDomains == [domainA, domainB])
        #expect(consensus.lagging.isEmpty, "3 behind is within the default maxLag of 4")
    }

    @Test func oneDomainOnlyUsesItsHighestHead() throws {
        let consensus = try #require(Consensus(reports: [
            Self.report("own-1", domainD, 100, "0xaa"),
            Self.report("own-2", domainD, 90),
        ]))
        #expect(consensus.number == 100)
        #expect(consensus.hash == "0xaa")
        #expect(consensus.isSingleDomain)
        #expect(consensus.lagging == ["own-2"])
    }

    @Test func laggingMeansMoreThanMaxLagBehind() throws {
        let reports = [
            Self.report("a", domainA, 100),
            Self.report("b", domainB, 100),
            Self.report("four-behind", domainC, 96),
            Self.report("five-behind", domainD, 95),
        ]
        let consensus = try #require(Consensus(reports: reports))
        #expect(consensus.maxLag == 4)
        #expect(consensus.lagging == ["five-behind"])
        #expect(consensus.mayServeHeadDependentCalls("four-behind"))
        #expect(!consensus.mayServeHeadDependentCalls("five-behind"))
        #expect(!consensus.mayServeHeadDependentCalls("unknown"))

        let strict = try #require(Consensus(reports: reports, maxLag: 0))
        #expect(strict.lagging == ["four-behind", "five-behind"])
    }

    @Test func upstreamsThatHaveABlockAreThoseAtOrAboveIt() throws {
        let consensus = try #require(Consensus(reports: [
            Self.report("a", domainA, 100),
            Self.report("b", domainB, 97),
            Self.report("c", domainC, 90),
        ]))
        #expect(consensus.upstreamsThatHave(block: 90) == ["a", "b", "c"])
        #expect(consensus.upstreamsThatHave(block: 97) == ["a", "b"])
        #expect(consensus.upstreamsThatHave(block: 100) == ["a"])
        #expect(consensus.upstreamsThatHave(block: 101).isEmpty)
    }

    @Test func agreeingHashesAtTheHeadGiveItsHash() throws {
        let consensus = try #require(Consensus(reports: [
            Self.report("a", domainA, 100, "0xaa"),
            Self.report("b", domainB, 100, "0xaa"),
            Self.report("c", domainC, 100),  // no hash: compatible with any
        ]))
        #expect(consensus.number == 100)
        #expect(consensus.hash == "0xaa")
        #expect(consensus.divergent.isEmpty)
    }

    @Test func aForkAtTheTipFallsBackToTheBlockBelow() throws {
        let consensus = try #require(Consensus(reports: [
            Self.report("a", domainA, 100, "0xaa"),
            Self.report("b", domainB, 100, "0xbb"),
            Self.report("c", domainC, 99, "0x99"),
        ]))
        #expect(consensus.number == 99)
        #expect(consensus.hash == "0x99")
        #expect(consensus.agreeingDomains == [domainA, domainB, domainC])
        #expect(consensus.divergent.isEmpty)
    }

    @Test func theHashWithMoreDomainsWinsAndTheOtherIsDivergent() throws {
        let consensus = try #require(Consensus(reports: [
            Self.report("a", domainA, 100, "0xaa"),
            Self.report("b", domainB, 100, "0xaa"),
            Self.report("liar", domainC, 100, "0xbb"),
        ]))
        #expect(consensus.number == 100)
        #expect(consensus.hash == "0xaa")
        #expect(consensus.agreeingDomains == [domainA, domainB])
        #expect(consensus.divergent == ["liar"])
        #expect(!consensus.mayServeHeadDependentCalls("liar"))
        #expect(consensus.upstreamsThatHave(block: 100) == ["a", "b"])
        #expect(consensus.upstreamsThatHave(block: 99) == ["a", "b", "liar"])
    }

    @Test func anUpstreamAheadSupportsEitherBranchSoATieStillFallsBack() throws {
        let consensus = try #require(Consensus(reports: [
            Self.report("a", domainA, 100, "0xaa"),
            Self.report("b", domainB, 100, "0xbb"),
            Self.report("c", domainC, 101),
        ]))
        #expect(consensus.number == 99)
        #expect(consensus.hash == nil)
    }

    @Test func aLoneHashConfirmedByAnUpstreamAheadStands() throws {
        let consensus = try #require(Consensus(reports: [
            Self.report("a", domainA, 100, "0xaa"),
            Self.report("c", domainC, 120),
        ]))
        #expect(consensus.number == 100)
        #expect(consensus.hash == "0xaa")
    }

    @Test func aContestedGenesisStaysAtZeroWithoutHash() throws {
        let consensus = try #require(Consensus(reports: [
            Self.report("a", domainA, 0, "0xaa"),
            Self.report("b", domainB, 0, "0xbb"),
        ]))
        #expect(consensus.number == 0)
        #expect(consensus.hash == nil)
    }

    @Test func aRepeatedUpstreamCountsOnceWithItsHighestHead() throws {
        let consensus = try #require(Consensus(reports: [
            Self.report("a", domainA, 90),
            Self.report("b", domainB, 100),
            Self.report("a", domainA, 100),
        ]))
        #expect(consensus.reports.count == 2)
        #expect(consensus.number == 100)
        #expect(consensus.lagging.isEmpty)
    }
}
