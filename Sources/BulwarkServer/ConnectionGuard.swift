import NIOCore

/// When a client connection has waited too long: one idle too long between requests is closed,
/// and one whose request does not arrive whole within the read timeout from its first byte (a
/// slow client, one byte a second) gets 408 and is closed. A pure state machine: `EdgeHandler`
/// tells it what happens on the connection and asks it, from a coarse repeating timer, whether
/// time is up — per request only a deadline is set, no timer is scheduled or cancelled.
struct ConnectionGuard {
    enum Verdict: Equatable {
        case carryOn
        /// Idle too long: close quietly.
        case close
        /// A request too slow to arrive: answer 408 and close.
        case requestTimeout
    }

    let readTimeout: TimeAmount
    let idleTimeout: TimeAmount
    /// How often `check` should run: a fraction of the shorter timeout.
    let tick: TimeAmount
    /// When the connection is closed unless something happens first; nil while a request is answered.
    private var deadline: NIODeadline?
    /// Whether `deadline` is a read timeout (408) rather than an idle one (closed quietly).
    private var deadlineIsRead = false
    /// Idle: the next byte starts a request (and its read timeout).
    private var awaitingRequest = true

    init(readTimeout: Duration, idleTimeout: Duration, now: NIODeadline) {
        self.readTimeout = TimeAmount(readTimeout)
        self.idleTimeout = TimeAmount(idleTimeout)
        tick = .nanoseconds(max(10_000_000, min(1_000_000_000, min(self.readTimeout, self.idleTimeout).nanoseconds / 4)))
        deadline = now + self.idleTimeout
    }

    /// Bytes arrived.
    mutating func bytesRead(now: @autoclosure () -> NIODeadline) {
        guard awaitingRequest else { return }
        awaitingRequest = false
        deadline = now() + readTimeout
        deadlineIsRead = true
    }

    /// A request arrived whole; it is being answered.
    mutating func requestReceived() {
        awaitingRequest = false
        deadline = nil
    }

    /// Answered; `reading`: part of a next request has been read already.
    mutating func answered(reading: Bool, now: NIODeadline) {
        awaitingRequest = !reading
        deadline = now + (reading ? readTimeout : idleTimeout)
        deadlineIsRead = reading
    }

    /// What to do at `now`; once a verdict other than `carryOn` is given, nothing more is.
    mutating func check(now: NIODeadline) -> Verdict {
        guard let deadline, deadline <= now else { return .carryOn }
        self.deadline = nil
        awaitingRequest = false
        return deadlineIsRead ? .requestTimeout : .close
    }
}
