import Failsafe
import Metrics
import Synchronization

/// The router's metrics through swift-metrics (the backend is chosen by the executable).
/// Labels are bounded: chain and upstream ids come from the configuration, outcomes and
/// methods from fixed lists.
final class RoutingMetrics: Sendable {
    /// Outcome label of an upstream attempt: `ok`, then one per kind of failure, in the kinds' order.
    static let outcomes = ["ok"] + UpstreamFailure.Kind.allCases.map(label)

    private struct UpstreamMetrics: Sendable {
        /// By outcome, in the order of `outcomes`.
        let attempts: [Counter]
        let latency: Timer
        let up: Gauge
        let head: Gauge
        let failedVerifications: Counter
    }

    /// By upstream, in the configuration's order (the router's upstream index).
    private let upstreams: [UpstreamMetrics]
    let retries: Counter
    let hedges: Counter
    let failovers: Counter
    let coalesced: Counter
    let outvoted: Counter
    let shed: Counter

    init(chain: String, upstreamIds: [String]) {
        self.upstreams = upstreamIds.map { id in
            let dimensions = [("chain", chain), ("upstream", id)]
            return UpstreamMetrics(
                attempts: Self.outcomes.map { Counter(label: "bulwark_upstream_requests_total", dimensions: dimensions + [("outcome", $0)]) },
                latency: Timer(label: "bulwark_upstream_request_duration_seconds", dimensions: dimensions, preferredDisplayUnit: .seconds),
                up: Gauge(label: "bulwark_upstream_up", dimensions: dimensions),
                head: Gauge(label: "bulwark_upstream_head_block", dimensions: dimensions),
                failedVerifications: Counter(label: "bulwark_upstream_failed_verifications_total", dimensions: dimensions)
            )
        }
        retries = Counter(label: "bulwark_retries_total", dimensions: [("chain", chain)])
        hedges = Counter(label: "bulwark_hedges_total", dimensions: [("chain", chain)])
        failovers = Counter(label: "bulwark_failovers_total", dimensions: [("chain", chain)])
        coalesced = Counter(label: "bulwark_coalesced_requests_total", dimensions: [("chain", chain)])
        outvoted = Counter(label: "bulwark_outvoted_answers_total", dimensions: [("chain", chain)])
        shed = Counter(label: "bulwark_shed_calls_total", dimensions: [("chain", chain)])
    }

    func failedVerification(upstream: Int) {
        upstreams[upstream].failedVerifications.increment()
    }

    /// An attempt on upstream number `upstream` ended: `failure` nil for an answer (`ok`, with its latency).
    func attempt(upstream: Int, failure: UpstreamFailure?, latency: Duration?) {
        let metrics = upstreams[upstream]
        metrics.attempts[failure.map(Self.outcome) ?? 0].increment()
        if let latency { metrics.latency.recordNanoseconds(latency.inNanoseconds) }
    }

    func state(upstream: Int, up: Bool, head: UInt64?) {
        let metrics = upstreams[upstream]
        metrics.up.record(up ? 1 : 0)
        if let head { metrics.head.record(Double(head)) }
    }

    /// The failure's place in `outcomes`.
    static func outcome(_ failure: UpstreamFailure) -> Int {
        1 + UpstreamFailure.Kind.allCases.firstIndex(of: failure.kind)!
    }

    static func label(_ kind: UpstreamFailure.Kind) -> String {
        switch kind {
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
