import Testing
@testable import Failsafe

@Suite("CircuitBreaker")
struct CircuitBreakerTests {
    typealias Breaker = CircuitBreaker<TestClock>

    /// Only consecutive failures trip it (the ratio needs more calls than these tests make).
    static func consecutiveOnly(
        _ threshold: Int = 5,
        probes: Int = 1,
        probeTimeout: Duration = .seconds(30)
    ) -> CircuitBreakerConfiguration {
        try! CircuitBreakerConfiguration(
            consecutiveFailureThreshold: threshold,
            minimumCalls: 1_000,
            halfOpenProbes: probes,
            probeTimeout: probeTimeout
        )
    }

    /// Only the failure ratio trips it.
    static func ratioOnly(rate: Double = 0.5, minimumCalls: Int = 20) -> CircuitBreakerConfiguration {
        try! CircuitBreakerConfiguration(
            consecutiveFailureThreshold: 1_000,
            failureRateThreshold: rate,
            minimumCalls: minimumCalls
        )
    }

    /// A breaker opened at `now` by consecutive failures.
    static func opened(_ configuration: CircuitBreakerConfiguration, at now: TestClock.Instant) -> Breaker {
        var breaker = Breaker(configuration: configuration)
        for _ in 0..<configuration.consecutiveFailureThreshold { breaker.record(.failure, now: now) }
        return breaker
    }

    @Test func defaultsAreTheDocumentedOnes() {
        let configuration = CircuitBreakerConfiguration.default
        #expect(configuration.consecutiveFailureThreshold == 5)
        #expect(configuration.failureRateThreshold == 0.5)
        #expect(configuration.minimumCalls == 20)
        #expect(configuration.window == .seconds(10))
        #expect(configuration.openDuration == .seconds(1))
        #expect(configuration.maximumOpenDuration == .seconds(30))
        #expect(configuration.openDurationMultiplier == 2)
        #expect(configuration.halfOpenProbes == 1)
    }

    @Test func startsClosedAndAllowsCalls() {
        var breaker = Breaker()
        #expect(breaker.state == .closed)
        #expect(breaker.decide(now: at(0)) == .allow)
        #expect(breaker.wouldAllow(now: at(0)))
    }

    @Test func opensOnTheFifthConsecutiveFailureNotBefore() {
        var breaker = Breaker(configuration: Self.consecutiveOnly())
        for _ in 0..<4 { #expect(breaker.record(.failure, now: at(1)) == nil) }
        #expect(breaker.state == .closed)
        #expect(breaker.consecutiveFailures == 4)
        #expect(breaker.decide(now: at(1)) == .allow)
        #expect(breaker.record(.failure, now: at(1)) == .opened(until: at(2)))
        #expect(breaker.state == .open(until: at(2)))
        #expect(breaker.decide(now: at(1)) == .reject(retryAfter: .seconds(1)))
    }

    @Test func aSuccessResetsTheConsecutiveCount() {
        var breaker = Breaker(configuration: Self.consecutiveOnly())
        for _ in 0..<4 { breaker.record(.failure, now: at(0)) }
        breaker.record(.success, now: at(0))
        #expect(breaker.consecutiveFailures == 0)
        for _ in 0..<4 { breaker.record(.failure, now: at(0)) }
        #expect(breaker.state == .closed)
    }

    @Test func cancelledCallsCountForNothingWhileClosed() {
        var breaker = Breaker(configuration: Self.consecutiveOnly())
        for _ in 0..<4 { breaker.record(.failure, now: at(0)) }
        breaker.record(.cancelled, now: at(0))
        #expect(breaker.consecutiveFailures == 4)
        #expect(breaker.failureRate(now: at(0)) == 1)
    }

    @Test func opensWhenTheFailureRatioReachesTheThresholdWithEnoughCalls() {
        var breaker = Breaker(configuration: Self.ratioOnly())
        // success, failure, success, failure, ...: 50 % failures all along.
        for call in 1...19 {
            let transition = breaker.record(call.isMultiple(of: 2) ? .failure : .success, now: at(0.1 * Double(call)))
            #expect(transition == nil, "call \(call) is below the 20-call minimum")
        }
        #expect(breaker.record(.failure, now: at(2)) == .opened(until: at(3)))
    }

    @Test func aRatioBelowTheThresholdKeepsItClosed() {
        var breaker = Breaker(configuration: Self.ratioOnly())
        for _ in 0..<11 { breaker.record(.success, now: at(0)) }
        for _ in 0..<9 { breaker.record(.failure, now: at(0)) }  // 45 %
        #expect(breaker.state == .closed)
        #expect(breaker.failureRate(now: at(0)) == 0.45)
        breaker.record(.failure, now: at(0))  // 10 of 21 = 47.6 %
        #expect(breaker.state == .closed)
        breaker.record(.failure, now: at(0))  // 11 of 22 = 50 %
        #expect(breaker.state == .open(until: at(1)))
    }

    @Test func failuresOutsideTheWindowNoLongerCount() {
        var breaker = Breaker(configuration: Self.ratioOnly())
        for _ in 0..<19 { breaker.record(.failure, now: at(0)) }
        #expect(breaker.state == .closed, "19 calls are below the minimum")
        // The 10 s window has moved past them: ten more calls hold 1 failure in 10.
        for _ in 0..<9 { breaker.record(.success, now: at(10)) }
        breaker.record(.failure, now: at(10))
        #expect(breaker.state == .closed)
        #expect(breaker.failureRate(now: at(10)) == 0.1)
    }

    @Test func theSameFailuresInsideTheWindowOpenIt() {
        var breaker = Breaker(configuration: Self.ratioOnly())
        for _ in 0..<19 { breaker.record(.failure, now: at(0)) }
        for _ in 0..<9 { breaker.record(.success, now: at(9.5)) }
        breaker.record(.failure, now: at(9.5))  // 20 failures of 29
        #expect(breaker.state == .open(until: at(10.5)))
    }

    @Test func rejectsWhileOpenWithTheTimeLeft() {
        var breaker = Self.opened(Self.consecutiveOnly(), at: at(10))
        #expect(breaker.decide(now: at(10.25)) == .reject(retryAfter: .milliseconds(750)))
        #expect(!breaker.wouldAllow(now: at(10.999)))
        #expect(breaker.decide(now: at(10.999)) == .reject(retryAfter: .milliseconds(1)))
    }

    @Test func outcomesRecordedWhileOpenAreIgnored() {
        var breaker = Self.opened(Self.consecutiveOnly(), at: at(0))
        #expect(breaker.record(.success, now: at(0.5)) == nil)
        #expect(breaker.record(.failure, now: at(0.5)) == nil)
        #expect(breaker.state == .open(until: at(1)), "late outcomes neither close it nor extend it")
    }

    @Test func afterTheCoolDownExactlyOneProbeGoes() {
        var breaker = Self.opened(Self.consecutiveOnly(), at: at(0))
        #expect(breaker.wouldAllow(now: at(1)))
        #expect(breaker.state == .open(until: at(1)), "wouldAllow changes nothing")
        #expect(breaker.decide(now: at(1)) == .allowProbe)
        #expect(breaker.state == .halfOpen)
        #expect(!breaker.wouldAllow(now: at(1.5)))
        #expect(breaker.decide(now: at(1.5)) == .reject(retryAfter: .seconds(1)))
    }

    @Test func halfOpenLetsThroughAtMostTheConfiguredProbes() {
        var breaker = Self.opened(Self.consecutiveOnly(probes: 3), at: at(0))
        #expect(breaker.decide(now: at(1)) == .allowProbe)
        #expect(breaker.decide(now: at(1)) == .allowProbe)
        #expect(breaker.decide(now: at(1)) == .allowProbe)
        guard case .reject = breaker.decide(now: at(1)) else {
            Issue.record("a fourth probe went through")
            return
        }
    }

    @Test func aSuccessfulProbeClosesTheCircuitAndResetsTheCoolDown() {
        var breaker = Self.opened(Self.consecutiveOnly(), at: at(0))
        _ = breaker.decide(now: at(1))
        breaker.record(.failure, now: at(1.1))  // re-open for 2 s
        _ = breaker.decide(now: at(3.1))
        #expect(breaker.record(.success, now: at(3.2)) == .closed)
        #expect(breaker.state == .closed)
        #expect(breaker.consecutiveOpenings == 0)
        #expect(breaker.failureRate(now: at(3.2)) == nil, "the window starts afresh")
        #expect(breaker.decide(now: at(3.2)) == .allow)
        for _ in 0..<5 { breaker.record(.failure, now: at(4)) }
        #expect(breaker.state == .open(until: at(5)), "the next opening is the base 1 s again")
    }

    @Test func withSeveralProbesEveryOneMustSucceed() {
        var breaker = Self.opened(Self.consecutiveOnly(probes: 2), at: at(0))
        _ = breaker.decide(now: at(1))
        _ = breaker.decide(now: at(1))
        #expect(breaker.record(.success, now: at(1.1)) == nil)
        #expect(breaker.state == .halfOpen)
        #expect(breaker.record(.success, now: at(1.2)) == .closed)

        var other = Self.opened(Self.consecutiveOnly(probes: 2), at: at(0))
        _ = other.decide(now: at(1))
        _ = other.decide(now: at(1))
        other.record(.success, now: at(1.1))
        #expect(other.record(.failure, now: at(1.2)) == .opened(until: at(3.2)))
    }

    @Test func failedProbesDoubleTheCoolDownUpToTheCap() {
        var breaker = Self.opened(Self.consecutiveOnly(), at: at(0))
        var now = 1.0
        var coolDowns: [Duration] = []
        for _ in 0..<7 {
            #expect(breaker.decide(now: at(now)) == .allowProbe)
            guard case .opened(let until) = breaker.record(.failure, now: at(now)) else {
                Issue.record("a failed probe did not re-open the circuit")
                return
            }
            coolDowns.append(at(now).duration(to: until))
            now = until.offset.seconds
        }
        #expect(coolDowns == [2, 4, 8, 16, 30, 30, 30].map { Duration.seconds($0) })
        #expect(breaker.consecutiveOpenings == 8)
    }

    @Test func coolDownGrowthFollowsTheMultiplier() throws {
        let configuration = try CircuitBreakerConfiguration(
            openDuration: .milliseconds(100),
            maximumOpenDuration: .seconds(1),
            openDurationMultiplier: 3
        )
        let durations = (1...5).map { configuration.openDuration(forOpening: $0) }
        #expect(durations == [.milliseconds(100), .milliseconds(300), .milliseconds(900), .seconds(1), .seconds(1)])
        #expect(configuration.openDuration(forOpening: 0) == .milliseconds(100))
        #expect(configuration.openDuration(forOpening: 100_000) == .seconds(1), "no overflow")
        let constant = try CircuitBreakerConfiguration(openDurationMultiplier: 1)
        #expect(constant.openDuration(forOpening: 50) == .seconds(1))
    }

    @Test func aCancelledProbeFreesItsSlotWithoutDeciding() {
        var breaker = Self.opened(Self.consecutiveOnly(), at: at(0))
        #expect(breaker.decide(now: at(1)) == .allowProbe)
        #expect(breaker.record(.cancelled, now: at(1.1)) == nil)
        #expect(breaker.state == .halfOpen)
        #expect(breaker.decide(now: at(1.2)) == .allowProbe)
    }

    @Test func aProbeWithoutOutcomeStopsHoldingItsSlotAfterTheProbeTimeout() {
        var breaker = Self.opened(Self.consecutiveOnly(probeTimeout: .seconds(5)), at: at(0))
        #expect(breaker.decide(now: at(1)) == .allowProbe)
        #expect(breaker.decide(now: at(5.5)) == .reject(retryAfter: .milliseconds(500)))
        #expect(breaker.decide(now: at(6)) == .allowProbe)
        // The first probe's late outcome is attributed to the live probe.
        #expect(breaker.record(.success, now: at(6.1)) == .closed)
    }

    @Test func anOutcomeWhileHalfOpenWithNoProbeInFlightIsIgnored() {
        var breaker = Self.opened(Self.consecutiveOnly(), at: at(0))
        #expect(breaker.decide(now: at(1)) == .allowProbe)
        breaker.record(.cancelled, now: at(1))
        #expect(breaker.record(.success, now: at(1.5)) == nil, "a call admitted before the circuit opened")
        #expect(breaker.record(.failure, now: at(1.5)) == nil)
        #expect(breaker.state == .halfOpen)
    }

    @Test func resetClosesAndForgets() {
        var breaker = Self.opened(Self.consecutiveOnly(), at: at(0))
        breaker.reset()
        #expect(breaker.state == .closed)
        #expect(breaker.consecutiveFailures == 0)
        #expect(breaker.consecutiveOpenings == 0)
        #expect(breaker.decide(now: at(0)) == .allow)
    }

    @Test func invalidConfigurationsNameTheParameter() {
        expectInvalid("consecutiveFailureThreshold") { try CircuitBreakerConfiguration(consecutiveFailureThreshold: 0) }
        expectInvalid("failureRateThreshold") { try CircuitBreakerConfiguration(failureRateThreshold: 0) }
        expectInvalid("failureRateThreshold") { try CircuitBreakerConfiguration(failureRateThreshold: 1.01) }
        expectInvalid("failureRateThreshold") { try CircuitBreakerConfiguration(failureRateThreshold: .nan) }
        expectInvalid("minimumCalls") { try CircuitBreakerConfiguration(minimumCalls: 0) }
        expectInvalid("window") { try CircuitBreakerConfiguration(window: .zero) }
        expectInvalid("windowBuckets") { try CircuitBreakerConfiguration(windowBuckets: 0) }
        expectInvalid("windowBuckets") { try CircuitBreakerConfiguration(window: .milliseconds(5), windowBuckets: 10) }
        expectInvalid("openDuration") { try CircuitBreakerConfiguration(openDuration: .zero) }
        expectInvalid("maximumOpenDuration") { try CircuitBreakerConfiguration(maximumOpenDuration: .milliseconds(999)) }
        expectInvalid("openDurationMultiplier") { try CircuitBreakerConfiguration(openDurationMultiplier: 0.5) }
        expectInvalid("openDurationMultiplier") { try CircuitBreakerConfiguration(openDurationMultiplier: .infinity) }
        expectInvalid("halfOpenProbes") { try CircuitBreakerConfiguration(halfOpenProbes: 0) }
        expectInvalid("probeTimeout") { try CircuitBreakerConfiguration(probeTimeout: .zero) }
    }
}
