import Testing
@testable import Failsafe

@Suite("TokenBucket")
struct TokenBucketTests {
    typealias Bucket = TokenBucket<TestClock>

    static func bucket(rate: Double, burst: Double? = nil) -> Bucket {
        Bucket(configuration: try! TokenBucketConfiguration(rate: rate, burst: burst))
    }

    @Test func startsFullAndAllowsExactlyTheBurst() {
        var bucket = Self.bucket(rate: 10, burst: 5)
        for call in 1...5 { #expect(bucket.tryAcquire(now: at(0)) == true, "call \(call)") }
        #expect(bucket.tryAcquire(now: at(0)) == false)
        #expect(bucket.availableTokens(now: at(0)) == 0)
    }

    @Test func burstDefaultsToTheRate() throws {
        let configuration = try TokenBucketConfiguration(rate: 50)
        #expect(configuration.burst == 50)
    }

    @Test func refillsContinuouslyAtTheRate() {
        var bucket = Self.bucket(rate: 10, burst: 5)
        for _ in 0..<5 { _ = bucket.tryAcquire(now: at(0)) }
        #expect(bucket.tryAcquire(now: at(0.05)) == false, "half a token is not a token")
        #expect(isClose(.seconds(bucket.availableTokens(now: at(0.05))), .seconds(0.5)))
        #expect(bucket.tryAcquire(now: at(0.1)) == true)
        #expect(bucket.tryAcquire(now: at(0.1)) == false)
        #expect(bucket.tryAcquire(now: at(0.3)) == true)
        #expect(bucket.tryAcquire(now: at(0.3)) == true)
        #expect(bucket.tryAcquire(now: at(0.3)) == false)
    }

    @Test func neverHoldsMoreThanTheBurst() {
        var bucket = Self.bucket(rate: 10, burst: 3)
        _ = bucket.tryAcquire(now: at(0))
        #expect(bucket.availableTokens(now: at(1_000)) == 3)
        for _ in 0..<3 { #expect(bucket.tryAcquire(now: at(1_000)) == true) }
        #expect(bucket.tryAcquire(now: at(1_000)) == false)
    }

    @Test func takesFractionalTokens() {
        var bucket = Self.bucket(rate: 1, burst: 1)
        #expect(bucket.tryAcquire(now: at(0), tokens: 0.25) == true)
        #expect(bucket.tryAcquire(now: at(0), tokens: 0.5) == true)
        #expect(bucket.tryAcquire(now: at(0), tokens: 0.5) == false)
        #expect(bucket.tryAcquire(now: at(0), tokens: 0.25) == true)
        #expect(bucket.tryAcquire(now: at(0), tokens: 0) == true, "zero tokens always pass")
        #expect(bucket.tryAcquire(now: at(0)) == false)
    }

    @Test func timeUntilAvailableIsExactAndNeverEarly() {
        var bucket = Self.bucket(rate: 10, burst: 5)
        for _ in 0..<5 { _ = bucket.tryAcquire(now: at(0)) }
        #expect(bucket.timeUntilAvailable(now: at(0)) == .milliseconds(100))
        #expect(bucket.timeUntilAvailable(now: at(0), tokens: 2.5) == .milliseconds(250))
        #expect(bucket.timeUntilAvailable(now: at(0.05), tokens: 2.5) == .milliseconds(200))
        var early = bucket
        #expect(early.tryAcquire(now: at(0.249_999_999), tokens: 2.5) == false)
        #expect(bucket.tryAcquire(now: at(0.25), tokens: 2.5) == true)
        #expect(bucket.timeUntilAvailable(now: at(10)) == .zero)
    }

    @Test func aRequestLargerThanTheBurstPassesOnlyWhenTheBucketIsFullAndEmptiesIt() {
        var bucket = Self.bucket(rate: 1, burst: 2)
        _ = bucket.tryAcquire(now: at(0))
        #expect(bucket.tryAcquire(now: at(0), tokens: 5) == false)
        #expect(bucket.timeUntilAvailable(now: at(0), tokens: 5) == .seconds(1))
        #expect(bucket.tryAcquire(now: at(1), tokens: 5) == true)
        #expect(bucket.availableTokens(now: at(1)) == 0)
    }

    @Test func aBackOffPausesForTheRetryAfterAndEmptiesTheBucket() {
        var bucket = Self.bucket(rate: 10, burst: 10)
        bucket.backOff(now: at(0), for: .seconds(3))
        #expect(bucket.isPaused(now: at(2.999)))
        #expect(bucket.tryAcquire(now: at(2.999)) == false)
        #expect(bucket.pausedUntil == at(3))
        #expect(!bucket.isPaused(now: at(3)))
        #expect(bucket.availableTokens(now: at(3)) == 0, "no burst right after a 429")
        #expect(bucket.tryAcquire(now: at(3)) == false)
        // The rate is halved to 5/s when the pause ends, then climbs 1/s each second: the first
        // token comes when 5u + u²/2 = 1, u = √27 − 5 ≈ 0.196 s.
        #expect(isClose(bucket.timeUntilAvailable(now: at(0)), .seconds(3.196_152_423), within: .nanoseconds(2)))
        let wait = bucket.timeUntilAvailable(now: at(3))
        #expect(isClose(wait, .seconds(0.196_152_423), within: .nanoseconds(2)))
        var early = bucket
        #expect(early.tryAcquire(now: at(3).advanced(by: wait - .microseconds(1))) == false)
        #expect(bucket.tryAcquire(now: at(3).advanced(by: wait)) == true)
    }

    @Test func aBackOffWithoutRetryAfterUsesTheDefaultAndALongOneIsCapped() throws {
        var bucket = Self.bucket(rate: 10)
        bucket.backOff(now: at(0))
        #expect(bucket.pausedUntil == at(1))

        var capped = Bucket(configuration: try TokenBucketConfiguration(rate: 10, maximumBackOff: .seconds(60)))
        capped.backOff(now: at(0), for: .seconds(3_600))
        #expect(capped.pausedUntil == at(60))

        var negative = Self.bucket(rate: 10)
        negative.backOff(now: at(0), for: .seconds(-5))
        #expect(!negative.isPaused(now: at(0)), "a negative Retry-After means no pause")
        #expect(negative.currentRate(now: at(0)) == 5, "but the rate is still cut")
    }

    @Test func theRateHalvesThenRecoversLinearly() {
        var bucket = Self.bucket(rate: 10, burst: 100)
        bucket.backOff(now: at(0), for: .seconds(1))
        #expect(bucket.currentRate(now: at(0.5)) == 0, "paused")
        #expect(bucket.currentRate(now: at(1)) == 5)
        #expect(isClose(.seconds(bucket.currentRate(now: at(3))), .seconds(7)))
        #expect(bucket.currentRate(now: at(6)) == 10)
        #expect(bucket.currentRate(now: at(60)) == 10)
        // Tokens are the integral of 5 + t over the 2 s after the pause: 10 + 2.
        #expect(isClose(.seconds(bucket.availableTokens(now: at(3))), .seconds(12)))
        // After the ramp, 12.5 tokens in its 5 s … then the full rate.
        #expect(isClose(.seconds(bucket.availableTokens(now: at(8))), .seconds(37.5 + 20)))
    }

    @Test func timeUntilAvailableSolvesTheRecoveryRampExactly() {
        var bucket = Self.bucket(rate: 10, burst: 100)
        bucket.backOff(now: at(0), for: .seconds(1))
        // 5u + u²/2 = 12 → u = 2.
        #expect(isClose(bucket.timeUntilAvailable(now: at(0), tokens: 12), .seconds(3)))
        // Past the ramp: 37.5 tokens by u = 5, then 10/s: 47.5 tokens at u = 6.
        #expect(isClose(bucket.timeUntilAvailable(now: at(0), tokens: 47.5), .seconds(7)))
        var early = bucket
        #expect(early.tryAcquire(now: at(2.999), tokens: 12) == false)
        #expect(bucket.tryAcquire(now: at(0).advanced(by: bucket.timeUntilAvailable(now: at(0), tokens: 12)), tokens: 12) == true)
    }

    @Test func a429BurstDuringOnePauseCutsTheRateOnceAndExtendsThePause() {
        var bucket = Self.bucket(rate: 10)
        bucket.backOff(now: at(0), for: .seconds(1))
        bucket.backOff(now: at(0.2), for: .seconds(1))
        bucket.backOff(now: at(0.3), for: .milliseconds(100))
        #expect(bucket.pausedUntil == at(1.2), "the longest pause wins")
        #expect(bucket.currentRate(now: at(1.2)) == 5, "cut once, not three times")
    }

    @Test func repeated429sAfterEachPauseCutTheRateDownToTheFloor() {
        var bucket = Self.bucket(rate: 10)
        var rates: [Double] = []
        var now = 0.0
        for _ in 0..<6 {
            bucket.backOff(now: at(now), for: .zero)
            rates.append(bucket.currentRate(now: at(now)))
            now += 0.001
        }
        #expect(rates.map { ($0 * 100).rounded() / 100 } == [5, 2.5, 1.25, 1, 1, 1])
    }

    @Test func decreaseFactorOneOnlyPauses() throws {
        var bucket = Bucket(configuration: try TokenBucketConfiguration(rate: 10, decreaseFactor: 1))
        bucket.backOff(now: at(0), for: .seconds(1))
        #expect(bucket.currentRate(now: at(1)) == 10)
        #expect(bucket.timeUntilAvailable(now: at(0)) == .milliseconds(1_100))
    }

    @Test func instantsOutOfOrderAddNoTokens() {
        var bucket = Self.bucket(rate: 10, burst: 5)
        for _ in 0..<5 { _ = bucket.tryAcquire(now: at(10)) }
        #expect(bucket.tryAcquire(now: at(9)) == false)
        #expect(bucket.availableTokens(now: at(9)) == 0)
        #expect(bucket.tryAcquire(now: at(10.1)) == true)
    }

    @Test func invalidConfigurationsNameTheParameter() {
        expectInvalid("rate") { try TokenBucketConfiguration(rate: 0) }
        expectInvalid("rate") { try TokenBucketConfiguration(rate: .infinity) }
        expectInvalid("rate") { try TokenBucketConfiguration(rate: .nan) }
        expectInvalid("burst") { try TokenBucketConfiguration(rate: 1, burst: 0) }
        expectInvalid("decreaseFactor") { try TokenBucketConfiguration(rate: 1, decreaseFactor: 0) }
        expectInvalid("decreaseFactor") { try TokenBucketConfiguration(rate: 1, decreaseFactor: 1.5) }
        expectInvalid("minimumRateFraction") { try TokenBucketConfiguration(rate: 1, minimumRateFraction: 0) }
        expectInvalid("recoveryPerSecond") { try TokenBucketConfiguration(rate: 1, recoveryPerSecond: 0) }
        expectInvalid("defaultBackOff") { try TokenBucketConfiguration(rate: 1, defaultBackOff: .seconds(-1)) }
        expectInvalid("maximumBackOff") {
            try TokenBucketConfiguration(rate: 1, defaultBackOff: .seconds(2), maximumBackOff: .seconds(1))
        }
    }
}
