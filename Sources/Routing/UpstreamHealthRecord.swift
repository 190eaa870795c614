/// What the router knows about one upstream's recent behaviour.
///
/// Policy in one place: three consecutive failures open the circuit for one second,
/// doubling per failed probe up to 30 s; after the open period one probe is let through;
/// a success closes it. A 429 pauses the upstream for its `Retry-After` (default 1 s).
struct UpstreamHealthRecord: Sendable {
    static let failuresToOpen = 3
    static let firstOpenPeriod: Duration = .seconds(1)
    static let longestOpenPeriod: Duration = .seconds(30)
    static let latencySamples = 64

    var consecutiveFailures = 0
    var openUntil: ContinuousClock.Instant?
    var openPeriod = firstOpenPeriod
    var probeInFlight = false
    var pausedUntil: ContinuousClock.Instant?
    private var latencies: [Duration] = []
    private var nextLatency = 0
    var head: UInt64?
    /// Nil until the upstream's chain id was read.
    var chainIdMatches: Bool?
    var lastFailure: String?
    var successCount = 0
    var failureCount = 0

    enum State: String, Sendable {
        case healthy, lagging, openCircuit = "open-circuit", down, wrongChain = "wrong-chain"
    }

    mutating func recordSuccess(latency: Duration, now: ContinuousClock.Instant) {
        successCount += 1
        consecutiveFailures = 0
        openUntil = nil
        openPeriod = Self.firstOpenPeriod
        probeInFlight = false
        appendLatency(latency)
    }

    private mutating func appendLatency(_ latency: Duration) {
        if latencies.count < Self.latencySamples {
            latencies.append(latency)
        } else {
            latencies[nextLatency] = latency
            nextLatency = (nextLatency + 1) % Self.latencySamples
        }
    }

    /// An attempt that lost to a faster one after `latency`: it says the upstream is at least this slow.
    mutating func recordLatencyLowerBound(_ latency: Duration) {
        appendLatency(latency)
    }

    mutating func recordFailure(_ failure: UpstreamFailure, now: ContinuousClock.Instant) {
        failureCount += 1
        lastFailure = failure.description
        if failure.kind == .rateLimited {
            pausedUntil = now + (failure.retryAfter ?? .seconds(1))
            return
        }
        consecutiveFailures += 1
        if probeInFlight {
            probeInFlight = false
            openPeriod = min(openPeriod * 2, Self.longestOpenPeriod)
            openUntil = now + openPeriod
        } else if consecutiveFailures >= Self.failuresToOpen {
            openUntil = now + openPeriod
        }
    }

    /// Whether a call may be sent now; claims the single probe of a half-open circuit.
    mutating func admit(now: ContinuousClock.Instant) -> Bool {
        guard chainIdMatches != false else { return false }
        if let pausedUntil, now < pausedUntil { return false }
        guard let openUntil else { return true }
        if now < openUntil || probeInFlight { return false }
        probeInFlight = true
        return true
    }

    func isOpen(now: ContinuousClock.Instant) -> Bool {
        if let openUntil { return now < openUntil || probeInFlight }
        return false
    }

    /// The 95th percentile of recent latencies; nil with fewer than 5 samples.
    var p95: Duration? {
        guard latencies.count >= 5 else { return nil }
        let sorted = latencies.sorted()
        return sorted[min(sorted.count - 1, Int(Double(sorted.count) * 0.95))]
    }

    var p50: Duration? {
        guard !latencies.isEmpty else { return nil }
        return latencies.sorted()[latencies.count / 2]
    }

    /// Lower is better: median latency in ms, inflated by recent failures.
    var score: Double {
        let median = p50.map { Double($0.components.attoseconds) / 1e15 + Double($0.components.seconds) * 1000 } ?? 50
        return median * (1 + Double(consecutiveFailures))
    }

    func state(now: ContinuousClock.Instant, consensusHead: UInt64?, maxLag: Int) -> State {
        if chainIdMatches == false { return .wrongChain }
        if isOpen(now: now) { return consecutiveFailures >= Self.failuresToOpen * 2 ? .down : .openCircuit }
        if let consensusHead, let head, head + UInt64(maxLag) < consensusHead { return .lagging }
        return .healthy
    }
}
