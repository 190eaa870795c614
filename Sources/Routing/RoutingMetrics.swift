import Metrics
import Synchronization

/// The router's metrics through swift-metrics (the backend is chosen by the executable).
/// Labels are bounded: chain and upstream ids come from the configuration, outcomes and
/// methods from fixed lists.
final class RoutingMetrics: Sendable {
    /// Outcome label of an upstream attempt.
    static let outcomes = ["ok", "connection_refused", "timeout", "connection_closed", "tls", "http_5xx", "rate_limited", "invalid_response", "rpc_upstream_error", "wrong_chain", "other"]

    private struct UpstreamMetrics: Sendable {
        let attempts: [String: Counter]
        let latency: Timer
        let up: Gauge
        let head: Gauge
        let failedVerifications: Counter
    }

    private let upstreams: [String: UpstreamMetrics]
    let retries: Counter
    let hedges: Counter
    let failovers: Counter
    let coalesced: Counter
    let outvoted: Counter
    let shed: Counter

    init(chain: String, upstreamIds: [String]) {
        var upstreams: [String: UpstreamMetrics] = [:]
        for id in upstreamIds {
            let dimensions = [("chain", chain), ("upstream", id)]
            upstreams[id] = UpstreamMetrics(
                attempts: Dictionary(uniqueKeysWithValues: Self.outcomes.map { ($0, Counter(label: "bulwark_upstream_requests_total", dimensions: dimensions + [("outcome", $0)])) }),
                latency: Timer(label: "bulwark_upstream_request_duration_seconds", dimensions: dimensions, preferredDisplayUnit: .seconds),
                up: Gauge(label: "bulwark_upstream_up", dimensions: dimensions),
                head: Gauge(label: "bulwark_upstream_head_block", dimensions: dimensions),
                failedVerifications: Counter(label: "bulwark_upstream_failed_verifications_total", dimensions: dimensions)
            )
        }
        self.upstreams = upstreams
        retries = Counter(label: "bulwark_retries_total", dimensions: [("chain", chain)])
        hedges = Counter(label: "bulwark_hedges_total", dimensions: [("chain", chain)])
        failovers = Counter(label: "bulwark_failovers_total", dimensions: [("chain", chain)])
        coalesced = Counter(label: "bulwark_coalesced_requests_total", dimensions: [("chain", chain)])
        outvoted = Counter(label: "bulwark_outvoted_answers_total", dimensions: [("chain", chain)])
        shed = Counter(label: "bulwark_shed_calls_total", dimensions: [("chain", chain)])
    }

    func failedVerification(upstream: String) {
        upstreams[upstream]?.failedVerifications.increment()
    }

    func attempt(upstream: String, outcome: String, latency: Duration?) {
        guard let metrics = upstreams[upstream] else { return }
        metrics.attempts[outcome]?.increment()
        if let latency { metrics.latency.recordNanoseconds(latency.components.seconds * 1_000_000_000 + latency.components.attoseconds / 1_000_000_000) }
    }

    func state(upstream: String, up: Bool, head: UInt64?) {
        guard let metrics = upstreams[upstream] else { return }
        metrics.up.record(up ? 1 : 0)
        if let head { metrics.head.record(Double(head)) }
    }

    static func outcome(_ failure: UpstreamFailure) -> String {
        switch failure.kind {
        case .connectionRefused: "connection_refused"
        case .timeout: "timeout"
        case .connectionClosed: "connection_closed"
        case .tls: "tls"
        case .http5xx: "http_5xx"
        case .rateLimited: "rate_limited"
        case .invalidResponse: "invalid_response"
        case .rpcUpstreamError: "rpc_upstream_error"
        case .wrongChain: "wrong_chain"
        case .other: "other"
        }
    }
}
