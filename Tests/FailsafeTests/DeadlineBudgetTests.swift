import Testing
@testable import Failsafe

@Suite("DeadlineBudget")
struct DeadlineBudgetTests {
    typealias Budget = DeadlineBudget<TestClock>

    @Test func remainingTimeCountsDownAndStopsAtZero() {
        let budget = Budget(now: at(5), total: .seconds(10))
        #expect(budget.deadline == at(15))
        #expect(budget.remaining(now: at(5)) == .seconds(10))
        #expect(budget.remaining(now: at(12.5)) == .milliseconds(2_500))
        #expect(budget.remaining(now: at(20)) == .zero)
        #expect(budget.elapsed(now: at(7)) == .seconds(2))
        #expect(!budget.isExpired(now: at(14.999)))
        #expect(budget.isExpired(now: at(15)))
    }

    @Test func anAttemptFitsOnlyWithItsMinimumLeft() {
        let budget = Budget(now: at(0), total: .seconds(1), minimumAttemptTime: .milliseconds(100))
        #expect(budget.canStartAttempt(now: at(0.9)))
        #expect(!budget.canStartAttempt(now: at(0.900_000_001)))
        #expect(budget.canStartAttempt(now: at(0.5), needing: .milliseconds(500)))
        #expect(!budget.canStartAttempt(now: at(0.5), needing: .milliseconds(501)))
        #expect(!budget.canStartAttempt(now: at(1)))
        let noMinimum = Budget(now: at(0), total: .seconds(1), minimumAttemptTime: .zero)
        #expect(noMinimum.canStartAttempt(now: at(0.999)))
        #expect(!noMinimum.canStartAttempt(now: at(1)), "some time must be left at all")
    }

    @Test func theAttemptTimeoutIsTheSmallerOfRemainingAndTheUpstreamsTimeout() {
        let budget = Budget(now: at(0), total: .seconds(10))
        #expect(budget.attemptTimeout(now: at(1), upstreamTimeout: .seconds(3)) == .seconds(3))
        #expect(budget.attemptTimeout(now: at(8), upstreamTimeout: .seconds(3)) == .seconds(2))
        #expect(budget.attemptTimeout(now: at(8)) == .seconds(2))
        #expect(budget.attemptTimeout(now: at(11), upstreamTimeout: .seconds(3)) == .zero)
        #expect(budget.nextAttemptTimeout(now: at(8), upstreamTimeout: .seconds(3)) == .seconds(2))
        #expect(budget.nextAttemptTimeout(now: at(9.99), upstreamTimeout: .seconds(3)) == nil)
    }

    @Test func aNegativeTotalIsExpiredAtOnce() {
        let budget = Budget(now: at(3), total: .seconds(-1))
        #expect(budget.isExpired(now: at(3)))
        #expect(budget.remaining(now: at(3)) == .zero)
        #expect(!budget.canStartAttempt(now: at(3)))
    }
}
