/// Whether the database may be asked, as a pure state machine over an injected clock's instants.
///
/// The store fails open: the first failed operation starts an outage, during which calls fail at
/// once without touching the network; a background probe retries after a backoff (1 s doubling up
/// to 30 s by default) and ends the outage when it succeeds. The transitions it returns tell the
/// shell what to log, so a warning is written once per outage rather than once per call.
struct StoreAvailability<Instant: InstantProtocol>: Sendable where Instant.Duration == Duration {
    enum Phase: Sendable {
        /// Created, not yet connected (schema not yet ensured); no failure seen.
        case connecting
        case available
        case unavailable(Outage)
    }

    struct Outage: Sendable {
        var since: Instant
        /// Probes that failed since the outage began.
        var failedProbes: Int
        var nextProbe: Instant
        /// The latest failure, for the error callers get.
        var reason: String
    }

    /// What the shell should log after an event.
    enum Transition: Equatable, Sendable {
        /// The database was reachable (or never was) and now is not; log a warning once.
        case outageBegan(reason: String, atStartup: Bool)
        /// The first successful probe after creation.
        case connected
        /// Reachable again after an outage of this length; log once.
        case recovered(after: Duration)
    }

    private(set) var phase: Phase = .connecting
    let backoff: OutageBackoff

    init(backoff: OutageBackoff) {
        self.backoff = backoff
    }

    var isAvailable: Bool {
        if case .available = phase { return true }
        return false
    }

    /// Why calls fail fast right now, or nil when they may go to the database.
    var unavailableReason: String? {
        switch phase {
        case .available: nil
        case .connecting: "not connected yet"
        case .unavailable(let outage): outage.reason
        }
    }

    /// Whether the background prober should try the database now.
    func probeDue(at now: Instant) -> Bool {
        switch phase {
        case .available: false
        case .connecting: true
        case .unavailable(let outage): outage.nextProbe <= now
        }
    }

    /// An operation failed because the database is unreachable.
    mutating func operationFailed(_ reason: String, at now: Instant) -> Transition? {
        switch phase {
        case .available:
            phase = .unavailable(Outage(since: now, failedProbes: 0, nextProbe: now.advanced(by: backoff.delay(afterFailedProbes: 0)), reason: reason))
            return .outageBegan(reason: reason, atStartup: false)
        case .connecting, .unavailable:
            // Operations do not run in these phases; a straggler that started before the outage changes nothing.
            return nil
        }
    }

    mutating func probeFailed(_ reason: String, at now: Instant) -> Transition? {
        switch phase {
        case .available:
            return operationFailed(reason, at: now)
        case .connecting:
            phase = .unavailable(Outage(since: now, failedProbes: 0, nextProbe: now.advanced(by: backoff.delay(afterFailedProbes: 0)), reason: reason))
            return .outageBegan(reason: reason, atStartup: true)
        case .unavailable(var outage):
            outage.failedProbes += 1
            outage.nextProbe = now.advanced(by: backoff.delay(afterFailedProbes: outage.failedProbes))
            outage.reason = reason
            phase = .unavailable(outage)
            return nil
        }
    }

    mutating func probeSucceeded(at now: Instant) -> Transition? {
        switch phase {
        case .available:
            return nil
        case .connecting:
            phase = .available
            return .connected
        case .unavailable(let outage):
            phase = .available
            return .recovered(after: outage.since.duration(to: now))
        }
    }
}

/// How long the store waits before probing an unreachable database again: `initial`, doubling
/// after each failed probe, never more than `maximum`.
public struct OutageBackoff: Sendable, Equatable {
    public var initial: Duration
    public var maximum: Duration

    public init(initial: Duration = .seconds(1), maximum: Duration = .seconds(30)) {
        precondition(initial > .zero && maximum >= initial, "OutageBackoff needs 0 < initial <= maximum")
        self.initial = initial
        self.maximum = maximum
    }

    /// The wait before the next probe, after `failedProbes` probes of this outage failed.
    public func delay(afterFailedProbes failedProbes: Int) -> Duration {
        var delay = initial
        for _ in 0..<max(0, failedProbes) {
            delay *= 2
            if delay >= maximum { return maximum }
        }
        return min(delay, maximum)
    }
}
