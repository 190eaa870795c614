import Testing
@testable import Failsafe

@Suite("HedgingPolicy")
struct HedgingPolicyTests {
    static let policy = try! HedgingPolicy(
        minimumDelay: .milliseconds(20),
        maximumDelay: .seconds(2),
        delayWithoutLatencyData: .seconds(1),
        maximumHedges: 1,
        minimumHedgeTime: .milliseconds(50)
    )

    @Test func hedgesAtTheUpstreamsP95() {
        #expect(Self.policy.hedgeDelay(for: .idempotent, upstreamP95: .milliseconds(180), remaining: .seconds(10))
            == .milliseconds(180))
    }

    @Test func theP95IsKeptBetweenFloorAndCeiling() {
        #expect(Self.policy.hedgeDelay(for: .idempotent, upstreamP95: .milliseconds(3), remaining: .seconds(10))
            == .milliseconds(20))
        #expect(Self.policy.hedgeDelay(for: .idempotent, upstreamP95: .seconds(9), remaining: .seconds(10))
            == .seconds(2))
    }

    @Test func withoutLatencyDataTheFallbackDelayApplies() throws {
        #expect(Self.policy.hedgeDelay(for: .idempotent, upstreamP95: nil, remaining: .seconds(10)) == .seconds(1))
        let cautious = try HedgingPolicy(delayWithoutLatencyData: nil)
        #expect(cautious.hedgeDelay(for: .idempotent, upstreamP95: nil, remaining: .seconds(10)) == nil)
    }

    @Test func callsWithSideEffectsAreNeverHedged() {
        #expect(Self.policy.hedgeDelay(for: .sideEffecting, upstreamP95: .milliseconds(100), remaining: .seconds(10)) == nil)
    }

    @Test func noMoreHedgesThanTheMaximum() throws {
        #expect(Self.policy.hedgeDelay(
            for: .idempotent, upstreamP95: .milliseconds(100), remaining: .seconds(10), hedgesStarted: 1) == nil)
        let two = try HedgingPolicy(maximumHedges: 2)
        #expect(two.hedgeDelay(for: .idempotent, upstreamP95: .milliseconds(100), remaining: .seconds(10), hedgesStarted: 1)
            == .milliseconds(100))
        #expect(two.hedgeDelay(for: .idempotent, upstreamP95: .milliseconds(100), remaining: .seconds(10), hedgesStarted: 2)
            == nil)
        #expect(HedgingPolicy.disabled.hedgeDelay(for: .idempotent, upstreamP95: .milliseconds(100), remaining: .seconds(10))
            == nil)
    }

    @Test func noHedgeWhenTooLittleOfTheDeadlineWouldBeLeft() {
        // 100 ms delay + 50 ms for the hedge itself.
        #expect(Self.policy.hedgeDelay(for: .idempotent, upstreamP95: .milliseconds(100), remaining: .milliseconds(150))
            == .milliseconds(100))
        #expect(Self.policy.hedgeDelay(for: .idempotent, upstreamP95: .milliseconds(100), remaining: .milliseconds(149))
            == nil)
        #expect(Self.policy.hedgeDelay(for: .idempotent, upstreamP95: .milliseconds(100), remaining: .zero) == nil)
        #expect(Self.policy.hedgeDelay(for: .idempotent, upstreamP95: .milliseconds(100), remaining: .seconds(-1)) == nil)
    }

    @Test func aZeroMinimumHedgeTimeStillNeedsTimeAfterTheDelay() throws {
        let eager = try HedgingPolicy(minimumHedgeTime: .zero)
        #expect(eager.hedgeDelay(for: .idempotent, upstreamP95: .milliseconds(100), remaining: .milliseconds(100)) == nil)
        #expect(eager.hedgeDelay(for: .idempotent, upstreamP95: .milliseconds(100), remaining: .milliseconds(101))
            == .milliseconds(100))
    }

    @Test func invalidConfigurationsNameTheParameter() {
        expectInvalid("minimumDelay") { try HedgingPolicy(minimumDelay: .milliseconds(-1)) }
        expectInvalid("maximumDelay") { try HedgingPolicy(minimumDelay: .seconds(3), maximumDelay: .seconds(2)) }
        expectInvalid("delayWithoutLatencyData") { try HedgingPolicy(delayWithoutLatencyData: .seconds(-1)) }
        expectInvalid("maximumHedges") { try HedgingPolicy(maximumHedges: -1) }
        expectInvalid("minimumHedgeTime") { try HedgingPolicy(minimumHedgeTime: .seconds(-1)) }
    }
}
