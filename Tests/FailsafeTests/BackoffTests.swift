import Testing
@testable import Failsafe

@Suite("Backoff")
struct BackoffTests {
    @Test func withoutJitterTheDelayDoublesUpToTheCap() throws {
        let backoff = try Backoff(base: .milliseconds(100), cap: .seconds(2), jitter: .none)
        var generator = SeededGenerator(seed: 1)
        let delays = (1...7).map { backoff.delay(attempt: $0, using: &generator) }
        #expect(delays == [100, 200, 400, 800, 1_600, 2_000, 2_000].map { Duration.milliseconds($0) })
    }

    @Test func attemptsBelowOneCountAsOneAndHugeOnesCannotOverflow() {
        let backoff = Backoff.default
        #expect(backoff.ceiling(attempt: 0) == .milliseconds(100))
        #expect(backoff.ceiling(attempt: -3) == .milliseconds(100))
        #expect(backoff.ceiling(attempt: 10_000) == .seconds(10))
        #expect(backoff.ceiling(attempt: .max) == .seconds(10))
    }

    @Test func fullJitterStaysWithinZeroAndTheCeilingAndCoversIt() throws {
        let backoff = try Backoff(base: .milliseconds(100), cap: .seconds(10), jitter: .full)
        var generator = SeededGenerator(seed: 42)
        for attempt in [1, 2, 5, 8, 20] {
            let ceiling = backoff.ceiling(attempt: attempt)
            let delays = (0..<2_000).map { _ in backoff.delay(attempt: attempt, using: &generator) }
            #expect(delays.allSatisfy { $0 >= .zero && $0 <= ceiling })
            #expect(delays.min()! < ceiling / 20, "attempt \(attempt) reaches near zero")
            #expect(delays.max()! > ceiling * 0.95, "attempt \(attempt) reaches near its ceiling")
            let mean = delays.reduce(Duration.zero, +) / delays.count
            #expect(abs(mean / ceiling - 0.5) < 0.05, "uniform: the mean is half the ceiling")
        }
    }

    @Test func decorrelatedJitterStaysBetweenBaseAndThreeTimesThePreviousCapped() throws {
        let backoff = try Backoff(base: .milliseconds(100), cap: .seconds(5), jitter: .decorrelated)
        var generator = SeededGenerator(seed: 9)
        var previous: Duration? = nil
        var reachedCap = false
        for attempt in 1...2_000 {
            let delay = backoff.delay(attempt: attempt, previous: previous, using: &generator)
            let upper = min(.seconds(5), (previous ?? .milliseconds(100)) * 3)
            #expect(delay >= .milliseconds(100) && delay <= upper)
            reachedCap = reachedCap || delay > .seconds(4)
            previous = delay
        }
        #expect(reachedCap, "delays grow towards the cap")
        #expect(backoff.delay(attempt: 1, previous: .seconds(60), using: &generator) <= .seconds(5))
        #expect(backoff.delay(attempt: 1, previous: .zero, using: &generator) <= .milliseconds(300))
    }

    @Test func theSameSeedGivesTheSameDelays() {
        var first = SeededGenerator(seed: 5)
        var second = SeededGenerator(seed: 5)
        let a = (1...10).map { Backoff.default.delay(attempt: $0, using: &first) }
        let b = (1...10).map { Backoff.default.delay(attempt: $0, using: &second) }
        #expect(a == b)
        #expect(Set(a).count > 1)
    }

    @Test func aMultiplierOfOneKeepsTheDelayConstant() throws {
        let backoff = try Backoff(base: .milliseconds(250), cap: .seconds(1), multiplier: 1, jitter: .none)
        var generator = SeededGenerator(seed: 1)
        #expect(backoff.delay(attempt: 50, using: &generator) == .milliseconds(250))
    }

    @Test func theSystemRandomVariantStaysInBounds() {
        for attempt in 1...20 {
            let delay = Backoff.default.delay(attempt: attempt)
            #expect(delay >= .zero && delay <= Backoff.default.ceiling(attempt: attempt))
        }
    }

    @Test func invalidConfigurationsNameTheParameter() {
        expectInvalid("base") { try Backoff(base: .zero) }
        expectInvalid("cap") { try Backoff(base: .seconds(2), cap: .seconds(1)) }
        expectInvalid("multiplier") { try Backoff(multiplier: 0.9) }
        expectInvalid("multiplier") { try Backoff(multiplier: .nan) }
    }
}
