@testable import BulwarkServer
import NIOCore
import Testing

/// The read and idle timeouts as a state machine, on a clock the test moves.
@Suite struct ConnectionGuardTests {
    let start = NIODeadline.uptimeNanoseconds(1_000_000_000_000)

    func at(_ seconds: Double) -> NIODeadline { start + .nanoseconds(Int64(seconds * 1e9)) }

    @Test func anIdleConnectionIsClosedQuietlyAfterTheIdleTimeout() {
        var timeouts = ConnectionGuard(readTimeout: .seconds(10), idleTimeout: .seconds(60), now: start)
        #expect(timeouts.check(now: at(59.9)) == .carryOn)
        #expect(timeouts.check(now: at(60)) == .close)
        #expect(timeouts.check(now: at(120)) == .carryOn, "one verdict only")
    }

    @Test func aRequestMustArriveWholeWithinTheReadTimeoutOfItsFirstByte() {
        var timeouts = ConnectionGuard(readTimeout: .seconds(10), idleTimeout: .seconds(60), now: start)
        timeouts.bytesRead(now: at(30))
        timeouts.bytesRead(now: at(39))
        #expect(timeouts.check(now: at(39.9)) == .carryOn, "later bytes do not extend the read timeout")
        #expect(timeouts.check(now: at(40)) == .requestTimeout)
    }

    @Test func nothingTimesOutWhileARequestIsAnswered() {
        var timeouts = ConnectionGuard(readTimeout: .seconds(10), idleTimeout: .seconds(60), now: start)
        timeouts.bytesRead(now: at(1))
        timeouts.requestReceived()
        #expect(timeouts.check(now: at(500)) == .carryOn)
        timeouts.answered(reading: false, now: at(500))
        #expect(timeouts.check(now: at(559)) == .carryOn)
        #expect(timeouts.check(now: at(560)) == .close)
    }

    @Test func aPipelinedRequestBegunDuringAnAnswerGetsTheReadTimeout() {
        var timeouts = ConnectionGuard(readTimeout: .seconds(10), idleTimeout: .seconds(60), now: start)
        timeouts.bytesRead(now: at(1))
        timeouts.requestReceived()
        timeouts.answered(reading: true, now: at(2))
        timeouts.bytesRead(now: at(11))
        #expect(timeouts.check(now: at(12)) == .requestTimeout)
    }

    @Test func theCheckRunsOftenEnoughForTheShorterTimeout() {
        let timeouts = ConnectionGuard(readTimeout: .milliseconds(200), idleTimeout: .seconds(60), now: start)
        #expect(timeouts.tick == .milliseconds(50))
    }
}
