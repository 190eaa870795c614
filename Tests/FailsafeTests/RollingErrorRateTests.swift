import Testing
@testable import Failsafe

@Suite("RollingErrorRate")
struct RollingErrorRateTests {
    typealias Rate = RollingErrorRate<TestClock>

    @Test func anEmptyWindowHasNoRate() {
        let rate = Rate()
        #expect(rate.errorRate(now: at(0)) == nil)
        #expect(rate.total(now: at(0)) == 0)
    }

    @Test func theRateIsFailuresOverCalls() {
        var rate = Rate()
        for _ in 0..<3 { rate.record(succeeded: true, now: at(1)) }
        rate.record(succeeded: false, now: at(2))
        #expect(rate.errorRate(now: at(2)) == 0.25)
        #expect(rate.counts(now: at(2)) == (3, 1))
    }

    @Test func outcomesLeaveTheWindowBucketByBucket() {
        var rate = Rate(window: .seconds(10), bucketCount: 5)  // 2 s buckets
        rate.record(succeeded: false, now: at(0))
        rate.record(succeeded: false, now: at(1.9))
        rate.record(succeeded: true, now: at(2))
        #expect(rate.errorRate(now: at(9.9)) == 2.0 / 3)
        #expect(rate.errorRate(now: at(10)) == 0, "the [0, 2) s bucket has expired")
        #expect(rate.errorRate(now: at(11.9)) == 0)
        #expect(rate.errorRate(now: at(12)) == nil)
        rate.record(succeeded: false, now: at(50))
        #expect(rate.counts(now: at(50)) == (0, 1))
    }

    @Test func removeAllForgetsEverything() {
        var rate = Rate()
        rate.record(succeeded: false, now: at(0))
        rate.removeAll()
        #expect(rate.errorRate(now: at(0)) == nil)
    }
}
