import Failsafe
import Metrics
import Routing
import Synchronization

/// A client of the gateway, known by its API key (SPEC section 2, `auth.keys`): its name (what
/// logs and metrics show — never the key), its priority when upstream capacity is short, its
/// rate limit and the methods it may call.
public final class GatewayClient: Sendable {
    public let name: String
    public let priority: Priority
    let key: [UInt8]
    /// `rps` and `burst`, when the client has a rate limit.
    let rateLimit: TokenBucketConfiguration?
    private let bucket: Mutex<TokenBucket<MonotonicClock>?>
    let allows: @Sendable (String) -> Bool
    /// `bulwark_client_calls_total{client, priority, result}`: answered (at once or by the upstreams), rate_limited, shed, not_allowed.
    let answered: Counter
    let rateLimited: Counter
    let shed: Counter
    let notAllowed: Counter

    /// - Parameter allows: the client's own method policy, on top of the chain's.
    public init(key: String, name: String, priority: Priority = .normal, rps: Double? = nil, burst: Double? = nil,
                allows: @escaping @Sendable (String) -> Bool = { _ in true }) {
        self.key = Array(key.utf8)
        self.name = name
        self.priority = priority
        rateLimit = rps.flatMap { try? TokenBucketConfiguration(rate: $0, burst: max(1, burst ?? $0)) }
        bucket = Mutex(rateLimit.map { TokenBucket(configuration: $0) })
        self.allows = allows
        let dimensions = [("client", name), ("priority", priority.rawValue)]
        answered = Counter(label: "bulwark_client_calls_total", dimensions: dimensions + [("result", "answered")])
        rateLimited = Counter(label: "bulwark_client_calls_total", dimensions: dimensions + [("result", "rate_limited")])
        shed = Counter(label: "bulwark_client_calls_total", dimensions: dimensions + [("result", "shed")])
        notAllowed = Counter(label: "bulwark_client_calls_total", dimensions: dimensions + [("result", "not_allowed")])
    }

    /// Everyone, when the gateway has no API keys.
    public static let anonymous = GatewayClient(key: "", name: "anonymous")

    /// Takes one token per call; nil when they were there, else how long until they will be.
    func overRateLimit(calls: Int, now: MonotonicClock.Instant) -> Duration? {
        bucket.withLock { bucket in
            guard bucket != nil else { return nil }
            if bucket!.tryAcquire(now: now, tokens: Double(calls)) { return nil }
            return bucket!.timeUntilAvailable(now: now, tokens: Double(calls))
        }
    }

    /// Compares every byte of both, whatever they hold: how long it takes says nothing of where
    /// they differ.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = UInt8(a.count == b.count ? 0 : 1)
        for i in 0..<max(a.count, b.count) { difference |= (i < a.count ? a[i] : 0) ^ (i < b.count ? b[i] : 0) }
        return difference == 0
    }
}

extension GatewayError {
    /// The client called faster than its key's rate limit (SPEC section 3, -32005, HTTP 429).
    static func rateLimited(client: String, rps: Double, burst: Double, retryAfter: Duration) -> GatewayError {
        GatewayError(code: -32005, httpStatus: 429, message: "rate limit exceeded", data: .object([
            "reason": .string("the key '\(client)' may make \(Self.format(rps)) calls per second (bursts of \(Self.format(burst))); retry after \(retryAfterSeconds(retryAfter)) s"),
            "retryAfter": .number(Double(retryAfterSeconds(retryAfter))),
        ]))
    }

    /// The method is outside the client's own method policy (SPEC section 3, -32601).
    static func methodNotAllowed(_ method: String, client: String) -> GatewayError {
        GatewayError(code: -32601, httpStatus: 200, message: "method not allowed",
                     data: .string("\(method) is not allowed for the key '\(client)' by the gateway's configuration"))
    }

    private static func format(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String((value * 10).rounded() / 10)
    }
}
