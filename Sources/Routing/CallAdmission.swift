import Failsafe
import Synchronization

/// A chain's admission of calls to its upstreams by the caller's priority (`PriorityAdmission`):
/// consulted only for calls about to go upstream — never for cache hits or local answers.
final class CallAdmission: Sendable {
    private let admission = Mutex(PriorityAdmission<MonotonicClock>())

    /// Sheds nothing without a known limit, nor with no capacity at all (then the call finds no
    /// upstream, and a stale answer or -32010 says so better than a 429).
    func admit(_ priority: Priority, capacity: Double?) -> PriorityAdmission<MonotonicClock>.Decision {
        guard let capacity, capacity > 0 else { return .admit }
        return admission.withLock { $0.admit(priority, capacity: capacity, now: .now) }
    }
}

extension GatewayError {
    /// Shed to keep the upstreams' capacity for more important calls (SPEC section 3, -32005, HTTP 429).
    static func shed(priority: Priority, chain: String, capacity: Double, retryAfter: Duration) -> GatewayError {
        let seconds = retryAfterSeconds(retryAfter)
        return GatewayError(code: -32005, httpStatus: 429, message: "overloaded: \(priority.rawValue) calls are shed", data: .object([
            "reason": .string("chain '\(chain)' can take about \(Int(capacity.rounded())) calls per second from its upstreams now; \(priority.rawValue) calls are shed first to keep them for more important ones; retry after \(seconds) s"),
            "retryAfter": .number(Double(seconds)),
        ]))
    }

    /// `Retry-After` in whole seconds, at least 1.
    public static func retryAfterSeconds(_ duration: Duration) -> Int {
        max(1, Int(duration.inSeconds.rounded(.up)))
    }

    /// The `Retry-After` header of a 429, in whole seconds.
    public var retryAfterHeader: String? {
        guard httpStatus == 429, case .number(let seconds)? = data?["retryAfter"] else { return nil }
        return String(Int(seconds))
    }

    /// Whether this is a call shed under overload.
    public var isShed: Bool { code == -32005 && message.hasPrefix("overloaded") }
}
