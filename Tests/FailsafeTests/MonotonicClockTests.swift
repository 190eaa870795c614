import Testing
@testable import Failsafe

@Suite("MonotonicClock")
struct MonotonicClockTests {
    @Test func instantsNeverGoBackAndKeepPaceWithTheSystemClock() async throws {
        var last = MonotonicClock.now
        for _ in 0..<10_000 {
            let now = MonotonicClock.now
            #expect(now >= last)
            last = now
        }
        // Each monotonic reading between two of ContinuousClock: its elapsed time lies between
        // the inner and the outer span, however the test thread is scheduled.
        let outerStart = ContinuousClock.now
        let start = MonotonicClock.now
        let innerStart = ContinuousClock.now
        try await Task.sleep(for: .milliseconds(50))
        let innerEnd = ContinuousClock.now
        let end = MonotonicClock.now
        let outerEnd = ContinuousClock.now
        let slack = Duration.microseconds(100)
        #expect(end - start >= .milliseconds(50))
        #expect(end - start >= (innerEnd - innerStart) - slack)
        #expect(end - start <= (outerEnd - outerStart) + slack)
    }

    @Test func arithmeticMatchesDurations() {
        let origin = MonotonicClock.Instant(offset: .seconds(100))
        let later = origin + .milliseconds(1_500)
        #expect(later - origin == .milliseconds(1_500))
        #expect(later - .milliseconds(1_500) == origin)
        #expect(origin.duration(to: later) == .milliseconds(1_500))
        #expect(origin < later && !(later < origin))
        var moved = origin
        moved += .seconds(2)
        moved -= .milliseconds(500)
        #expect(moved == later)
    }

    @Test func sleepingUntilAnInstantWaitsForIt() async throws {
        let clock = MonotonicClock()
        let deadline = clock.now + .milliseconds(30)
        try await clock.sleep(until: deadline, tolerance: nil)
        #expect(clock.now >= deadline)
        // A deadline already past returns at once.
        let before = clock.now
        try await clock.sleep(until: before - .seconds(1), tolerance: nil)
        #expect(clock.now - before < .milliseconds(500))
    }
}
