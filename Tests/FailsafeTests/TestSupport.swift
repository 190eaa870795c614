import Testing
@testable import Failsafe

/// A clock that moves only when a test moves it. The policies take `now` as a parameter and never
/// sleep; `sleep` records an issue if anything tries.
struct TestClock: Clock {
    struct Instant: InstantProtocol, CustomStringConvertible {
        var offset: Duration

        func advanced(by duration: Duration) -> Instant { Instant(offset: offset + duration) }
        func duration(to other: Instant) -> Duration { other.offset - offset }
        static func < (lhs: Instant, rhs: Instant) -> Bool { lhs.offset < rhs.offset }
        var description: String { "t+\(offset)" }
    }

    var now = Instant(offset: .zero)
    var minimumResolution: Duration { .nanoseconds(1) }

    func sleep(until deadline: Instant, tolerance: Duration?) async throws {
        Issue.record("a Failsafe policy tried to sleep")
    }

    mutating func advance(by duration: Duration) {
        now = now.advanced(by: duration)
    }
}

/// The instant `seconds` after the test clock's zero, to the nanosecond (so `at(1.2)` plus 2 s
/// is exactly `at(3.2)`).
func at(_ seconds: Double) -> TestClock.Instant {
    TestClock.Instant(offset: .nanoseconds(Int64((seconds * 1e9).rounded())))
}

/// A seeded generator so random tests are repeatable.
typealias SeededGenerator = SplitMix64

extension Duration {
    /// Seconds as a Double, for tolerances in assertions.
    var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}

/// Whether two durations are within `tolerance` of each other.
func isClose(_ a: Duration, _ b: Duration, within tolerance: Duration = .nanoseconds(1)) -> Bool {
    abs((a - b).seconds) <= tolerance.seconds
}

let domainA = FailureDomain(provider: "alchemy", cloud: "aws", region: "us-east-1")
let domainB = FailureDomain(provider: "quicknode", cloud: "gcp", region: "europe-west1")
let domainC = FailureDomain(provider: "ankr", cloud: "azure", region: "eastus")
let domainD = FailureDomain(provider: "self", cloud: "hetzner", region: "fsn1")

/// Expects `make` to reject its configuration, naming `parameter`.
func expectInvalid<T>(
    _ parameter: String,
    sourceLocation: SourceLocation = #_sourceLocation,
    _ make: () throws -> T
) {
    do {
        _ = try make()
        Issue.record("an invalid \(parameter) was accepted", sourceLocation: sourceLocation)
    } catch let error as FailsafeConfigurationError {
        #expect(error.parameter == parameter, sourceLocation: sourceLocation)
        #expect(error.description.hasPrefix("\(parameter): "), sourceLocation: sourceLocation)
    } catch {
        Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
    }
}
