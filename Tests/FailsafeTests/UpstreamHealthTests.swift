import Testing
@testable import Failsafe

@Suite("UpstreamHealth")
struct UpstreamHealthTests {
    typealias Health = UpstreamHealth<TestClock>

    static func health(rateLimit: TokenBucketConfiguration? = nil) -> Health {
        Health(configuration: try! UpstreamHealthConfiguration(rateLimit: rateLimit))
    }

    /// Sends one attempt and reports it, as the I/O shell does.
    static func attempt(_ health: inout Health, _ outcome: Health.Outcome, at now: TestClock.Instant) {
        let decision = health.beginAttempt(now: now)
        #expect(decision == .allow || decision == .allowProbe, "attempt at \(now) was \(decision)")
        health.record(outcome, now: now)
    }

    @Test func aNewUpstreamIsHealthyAndScoredAtTheAssumedLatency() {
        let health = Self.health()
        #expect(health.state(now: at(0)) == .healthy)
        #expect(health.mayTry(now: at(0)))
        #expect(health.score(now: at(0)) == 0.2)
        #expect(health.errorRate(now: at(0)) == nil)
        #expect(health.latencySummary(now: at(0)) == nil)
    }

    @Test func theScoreIsMeanLatencyPlusThePenaltyPerExpectedFailure() {
        var health = Self.health()
        for _ in 0..<9 { Self.attempt(&health, .success(latency: .milliseconds(100)), at: at(1)) }
        #expect(isClose(.seconds(health.score(now: at(1))), .milliseconds(100)))
        Self.attempt(&health, .failure(.serverError), at: at(1))
        // 0.1 s + 1 s · 1 failure / (9 successes + 1).
        #expect(isClose(.seconds(health.score(now: at(1))), .milliseconds(200)))
        #expect(health.errorRate(now: at(1)) == 0.1)

        var fastButFlaky = Self.health()
        for _ in 0..<9 { Self.attempt(&fastButFlaky, .success(latency: .milliseconds(50)), at: at(1)) }
        Self.attempt(&fastButFlaky, .failure(.timeout), at: at(1))
        var slowButClean = Self.health()
        for _ in 0..<10 { Self.attempt(&slowButClean, .success(latency: .milliseconds(120)), at: at(1)) }
        #expect(slowButClean.score(now: at(1)) < fastButFlaky.score(now: at(1)))
    }

    @Test func connectionFailuresOpenTheCircuitAsDownAndAProbeBringsItBack() {
        var health = Self.health()
        for _ in 0..<4 { Self.attempt(&health, .failure(.connectionError), at: at(0)) }
        #expect(health.state(now: at(0)) == .healthy)
        let decision = health.beginAttempt(now: at(0))
        #expect(decision == .allow)
        let change = health.record(.failure(.connectionError), now: at(0))
        #expect(change == Health.StateChange(from: .healthy, to: .down))
        #expect(!health.mayTry(now: at(0.5)))
        #expect(health.beginAttempt(now: at(0.5)) == .reject(.circuitOpen(retryAfter: .milliseconds(500))))

        #expect(health.mayTry(now: at(1)))
        #expect(health.beginAttempt(now: at(1)) == .allowProbe)
        #expect(health.state(now: at(1)) == .down, "still down while the probe is out")
        #expect(!health.mayTry(now: at(1)), "the one probe slot is taken")
        let recovered = health.record(.success(latency: .milliseconds(40)), now: at(1.04))
        #expect(recovered == Health.StateChange(from: .down, to: .healthy))
        #expect(health.mayTry(now: at(1.04)))
    }

    @Test func answeredFailuresOpenTheCircuitAsOpenCircuit() {
        var health = Self.health()
        for _ in 0..<5 { Self.attempt(&health, .failure(.serverError), at: at(0)) }
        #expect(health.state(now: at(0)) == .openCircuit)
        #expect(health.beginAttempt(now: at(1)) == .allowProbe)
        // The probe times out: now nothing answers at all.
        health.record(.failure(.timeout), now: at(1))
        #expect(health.state(now: at(1)) == .down)
        #expect(health.circuitBreaker.state == .open(until: at(3)))
    }

    @Test func invalidResponsesCountAgainstTheCircuit() {
        var health = Self.health()
        for _ in 0..<5 { Self.attempt(&health, .failure(.invalidResponse), at: at(0)) }
        #expect(health.state(now: at(0)) == .openCircuit)
    }

    @Test func laggingShowsOnlyWhileTheCircuitIsClosed() {
        var health = Self.health()
        health.isLagging = true
        #expect(health.state(now: at(0)) == .lagging)
        #expect(health.mayTry(now: at(0)), "a lagging upstream still serves historical calls")
        for _ in 0..<5 { Self.attempt(&health, .failure(.serverError), at: at(0)) }
        #expect(health.state(now: at(0)) == .openCircuit)
        health.isLagging = false
        #expect(health.state(now: at(0)) == .openCircuit)
    }

    @Test func a429PausesForItsRetryAfterWithoutOpeningTheCircuit() {
        var health = Self.health()
        for index in 0..<10 {
            Self.attempt(&health, .failure(.rateLimited(retryAfter: .seconds(2))), at: at(2 * Double(index)))
        }
        #expect(health.circuitBreaker.state == .closed, "being over quota is not being broken")
        #expect(health.state(now: at(18)) == .healthy)
        #expect(health.errorRate(now: at(18)) == 1, "but it counts in the error rate")

        var paused = Self.health()
        paused.record(.failure(.rateLimited(retryAfter: .seconds(2))), now: at(0))
        #expect(!paused.mayTry(now: at(1.999)))
        #expect(paused.beginAttempt(now: at(1.5)) == .reject(.rateLimited(retryAfter: .milliseconds(500))))
        #expect(paused.snapshot(now: at(1)).pausedUntil == at(2))
        #expect(paused.mayTry(now: at(2)))
    }

    @Test func a429WithoutRetryAfterPausesForTheDefaultAndALongOneIsCapped() {
        var health = Self.health()
        health.record(.failure(.rateLimited(retryAfter: nil)), now: at(0))
        #expect(!health.mayTry(now: at(0.999)))
        #expect(health.mayTry(now: at(1)))

        var capped = Self.health()
        capped.record(.failure(.rateLimited(retryAfter: .seconds(86_400))), now: at(0))
        #expect(!capped.mayTry(now: at(59.9)))
        #expect(capped.mayTry(now: at(60)))
    }

    @Test func maxRpsIsRespectedAndA429SlowsTheBucket() throws {
        var health = Self.health(rateLimit: try TokenBucketConfiguration(rate: 10, burst: 2))
        #expect(health.beginAttempt(now: at(0)) == .allow)
        #expect(health.beginAttempt(now: at(0)) == .allow)
        #expect(!health.mayTry(now: at(0)))
        #expect(health.beginAttempt(now: at(0)) == .reject(.rateLimited(retryAfter: .milliseconds(100))))
        #expect(health.beginAttempt(now: at(0.1)) == .allow)

        health.record(.failure(.rateLimited(retryAfter: .seconds(2))), now: at(0.1))
        #expect(!health.mayTry(now: at(2.09)))
        #expect(health.snapshot(now: at(1)).pausedUntil == at(2.1))
        // After the pause the bucket is empty and refills at the halved rate.
        #expect(!health.mayTry(now: at(2.1)))
        #expect(health.mayTry(now: at(2.4)))
    }

    @Test func aRejectedAttemptTakesNoProbeSlot() throws {
        var health = Self.health(rateLimit: try TokenBucketConfiguration(rate: 1, burst: 1))
        for _ in 0..<5 {
            health.record(.failure(.connectionError), now: at(0))
        }
        #expect(health.beginAttempt(now: at(1)) == .allowProbe)
        health.record(.cancelled, now: at(1))
        #expect(health.beginAttempt(now: at(1.5)) == .reject(.rateLimited(retryAfter: .milliseconds(500))))
        #expect(health.beginAttempt(now: at(2)) == .allowProbe, "the probe slot was still free")
    }

    @Test func aCancelledProbeFreesItsSlot() {
        var health = Self.health()
        for _ in 0..<5 { Self.attempt(&health, .failure(.serverError), at: at(0)) }
        #expect(health.beginAttempt(now: at(1)) == .allowProbe)
        #expect(health.record(.cancelled, now: at(1.1)) == nil)
        #expect(health.beginAttempt(now: at(1.2)) == .allowProbe)
    }

    @Test func aFaultDrillTakesItDownUntilTheGivenTime() {
        var health = Self.health()
        health.takeOutOfService(until: at(60))
        #expect(health.state(now: at(0)) == .down)
        #expect(!health.mayTry(now: at(0)))
        #expect(health.beginAttempt(now: at(10)) == .reject(.outOfService(until: at(60))))
        #expect(health.state(now: at(60)) == .healthy)
        #expect(health.mayTry(now: at(60)))

        health.takeOutOfService()
        #expect(health.beginAttempt(now: at(1_000)) == .reject(.outOfService(until: nil)))
        health.returnToService()
        #expect(health.state(now: at(1_000)) == .healthy)
    }

    @Test func theHedgingLatencyNeedsEnoughSamples() {
        var health = Self.health()
        for index in 0..<19 { Self.attempt(&health, .success(latency: .milliseconds(10 * (index + 1))), at: at(1)) }
        #expect(health.hedgingLatency(now: at(1)) == nil)
        Self.attempt(&health, .success(latency: .milliseconds(200)), at: at(1))
        let p95 = health.hedgingLatency(now: at(1))
        // Rank ⌊0.95 · 19⌋ = 18 of 10, 20, … 200 ms: 190 ms, within 2 %.
        #expect(p95.map { abs($0.seconds - 0.19) <= 0.19 * 0.02 } == true)
    }

    @Test func failuresAddNoLatencySamples() {
        var health = Self.health()
        Self.attempt(&health, .success(latency: .milliseconds(50)), at: at(0))
        Self.attempt(&health, .failure(.timeout), at: at(0))
        #expect(health.latencySummary(now: at(0))?.count == 1)
    }

    @Test func recordReportsOnlyRealStateChanges() {
        var health = Self.health()
        #expect(health.record(.success(latency: .milliseconds(5)), now: at(0)) == nil)
        #expect(health.record(.failure(.serverError), now: at(0)) == nil)
    }

    @Test func theSnapshotShowsWhatStatusNeeds() {
        var health = Self.health()
        Self.attempt(&health, .success(latency: .milliseconds(100)), at: at(0))
        Self.attempt(&health, .failure(.serverError), at: at(0))
        let snapshot = health.snapshot(now: at(0))
        #expect(snapshot.state == .healthy)
        #expect(snapshot.successes == 1 && snapshot.failures == 1)
        #expect(snapshot.errorRate == 0.5)
        #expect(snapshot.latency?.p50 == .milliseconds(100))
        #expect(snapshot.circuit == .closed)
        #expect(snapshot.pausedUntil == nil)
        #expect(isClose(.seconds(snapshot.score), .milliseconds(600)))
        #expect(Health.State.allCases.map(\.rawValue) == ["healthy", "lagging", "open-circuit", "down"])
    }

    @Test func invalidConfigurationsNameTheParameter() {
        expectInvalid("defaultRetryAfter") { try UpstreamHealthConfiguration(defaultRetryAfter: .seconds(-1)) }
        expectInvalid("maximumRetryAfter") {
            try UpstreamHealthConfiguration(defaultRetryAfter: .seconds(5), maximumRetryAfter: .seconds(1))
        }
        expectInvalid("window") { try UpstreamHealthConfiguration(window: .zero) }
        expectInvalid("windowBuckets") { try UpstreamHealthConfiguration(windowBuckets: 0) }
        expectInvalid("minimumSamplesForP95") { try UpstreamHealthConfiguration(minimumSamplesForP95: 0) }
        expectInvalid("failurePenalty") { try UpstreamHealthConfiguration(failurePenalty: .seconds(-1)) }
        expectInvalid("assumedLatency") { try UpstreamHealthConfiguration(assumedLatency: .zero) }
    }
}
