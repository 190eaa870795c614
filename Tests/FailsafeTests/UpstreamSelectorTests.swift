import Testing
@testable import Failsafe

@Suite("UpstreamSelector")
struct UpstreamSelectorTests {
    typealias Candidate = UpstreamSelector.Candidate<String>

    static func order(
        _ candidates: [Candidate],
        strategy: UpstreamSelector.Strategy = .lowestScore,
        triedDomains: Set<FailureDomain> = [],
        triedUpstreams: Set<String> = [],
        seed: UInt64 = 1
    ) -> [String] {
        var generator = SeededGenerator(seed: seed)
        return UpstreamSelector(strategy: strategy)
            .order(candidates, triedDomains: triedDomains, triedUpstreams: triedUpstreams, using: &generator)
    }

    @Test func theBestScoreGoesFirst() {
        let plan = Self.order([
            Candidate(id: "slow", domain: domainA, score: 0.3),
            Candidate(id: "fast", domain: domainB, score: 0.05),
            Candidate(id: "medium", domain: domainC, score: 0.1),
        ])
        #expect(plan == ["fast", "medium", "slow"])
    }

    @Test func aRetryPrefersAFailureDomainNotYetTried() {
        let candidates = [
            Candidate(id: "alchemy", domain: domainA, score: 0.01),
            Candidate(id: "alchemy-2", domain: domainA, score: 0.02),
            Candidate(id: "quicknode", domain: domainB, score: 0.5),
        ]
        let plan = Self.order(candidates, triedDomains: [domainA], triedUpstreams: ["alchemy"])
        #expect(plan == ["quicknode", "alchemy-2", "alchemy"])
    }

    @Test func thePlanItselfMovesToAnotherDomainAfterEachPick() {
        let plan = Self.order([
            Candidate(id: "a1", domain: domainA, score: 0.01),
            Candidate(id: "a2", domain: domainA, score: 0.02),
            Candidate(id: "a3", domain: domainA, score: 0.03),
            Candidate(id: "b1", domain: domainB, score: 0.5),
            Candidate(id: "c1", domain: domainC, score: 0.9),
        ])
        #expect(plan == ["a1", "b1", "c1", "a2", "a3"])
    }

    @Test func unavailableUpstreamsAndThoseWithoutTheBlockAreLeftOut() {
        let plan = Self.order([
            Candidate(id: "open-circuit", domain: domainA, score: 0.01, mayTryNow: false),
            Candidate(id: "lagging", domain: domainB, score: 0.01, hasBlock: false),
            Candidate(id: "ok", domain: domainC, score: 0.5),
        ])
        #expect(plan == ["ok"])
        #expect(Self.order([]).isEmpty)
    }

    @Test func whenEveryDomainWasTriedTheBestGoesFirstAgain() {
        let plan = Self.order(
            [
                Candidate(id: "a", domain: domainA, score: 0.2),
                Candidate(id: "b", domain: domainB, score: 0.1),
            ],
            triedDomains: [domainA, domainB]
        )
        #expect(plan == ["b", "a"])
    }

    @Test func equalScoresAreOrderedByTheRandomSourceDeterministically() {
        let candidates = (0..<4).map { Candidate(id: "u\($0)", domain: [domainA, domainB, domainC, domainD][$0], score: 0.1) }
        #expect(Self.order(candidates, seed: 3) == Self.order(candidates, seed: 3))
        var firsts: [String: Int] = [:]
        for seed in 0..<400 {
            firsts[Self.order(candidates, seed: UInt64(seed))[0], default: 0] += 1
        }
        #expect(firsts.count == 4, "every tied upstream gets to go first")
        #expect(firsts.values.allSatisfy { $0 > 60 }, "roughly evenly: \(firsts)")
    }

    @Test func aNaNScoreCountsAsTheWorst() {
        let plan = Self.order([
            Candidate(id: "nan", domain: domainA, score: .nan),
            Candidate(id: "slow", domain: domainB, score: 9),
        ])
        #expect(plan == ["slow", "nan"])
    }

    @Test func powerOfTwoChoicesSpreadsLoadButNeverPutsTheWorstFirst() {
        let candidates = [
            Candidate(id: "best", domain: domainA, score: 0.05),
            Candidate(id: "good", domain: domainB, score: 0.06),
            Candidate(id: "worst", domain: domainC, score: 0.5),
        ]
        var firsts: [String: Int] = [:]
        for seed in 0..<3_000 {
            let plan = Self.order(candidates, strategy: .powerOfTwoChoices, seed: UInt64(seed))
            #expect(Set(plan) == ["best", "good", "worst"])
            firsts[plan[0], default: 0] += 1
        }
        #expect(firsts["worst"] == nil)
        // The best wins both pairs it is drawn in: 2 of the 3 pairs.
        let bestShare = Double(firsts["best"] ?? 0) / 3_000
        #expect(abs(bestShare - 2.0 / 3) < 0.05, "best first \(bestShare)")
        #expect(Self.order(candidates, strategy: .powerOfTwoChoices, seed: 11)
            == Self.order(candidates, strategy: .powerOfTwoChoices, seed: 11))
    }

    @Test func powerOfTwoChoicesStillPrefersAnUntriedDomain() {
        let candidates = [
            Candidate(id: "a1", domain: domainA, score: 0.01),
            Candidate(id: "a2", domain: domainA, score: 0.02),
            Candidate(id: "b1", domain: domainB, score: 0.9),
        ]
        for seed in 0..<50 {
            let plan = Self.order(candidates, strategy: .powerOfTwoChoices, triedDomains: [domainA], seed: UInt64(seed))
            #expect(plan.first == "b1")
        }
    }

    @Test func theSystemRandomVariantGivesAPlan() {
        let plan = UpstreamSelector().order([
            Candidate(id: "a", domain: domainA, score: 0.2),
            Candidate(id: "b", domain: domainB, score: 0.1),
        ])
        #expect(plan == ["b", "a"])
    }
}
