import Testing
@testable import Failsafe

@Suite("RollingLatencyWindow")
struct RollingLatencyWindowTests {
    typealias Window = RollingLatencyWindow<TestClock>

    static let quantiles = [0, 0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1]

    /// The sample a quantile is defined as: rank ⌊q·(n−1)⌋ of the sorted samples.
    static func exact(_ q: Double, of sorted: [Duration]) -> Duration {
        sorted[Int((q * Double(sorted.count - 1)).rounded(.down))]
    }

    /// Random latencies of several shapes, in seconds.
    enum Shape: String, CaseIterable, Sendable {
        /// 1 ms … 1 s, evenly spread in log space: what a mix of fast and slow methods looks like.
        case logUniform
        /// 20 … 500 ms, linear.
        case uniform
        /// 95 % near 30 ms, 5 % near 2 s: a stalling upstream's tail.
        case bimodal
        /// 1 µs … 10 ms: cached answers on loopback.
        case tiny

        func sample(using generator: inout SeededGenerator) -> Duration {
            let u = Double.random(in: 0..<1, using: &generator)
            switch self {
            case .logUniform: return .secondsPrecise(0.001 * Math.power(1_000, u))
            case .uniform: return .secondsPrecise(0.02 + 0.48 * u)
            case .bimodal:
                let v = Double.random(in: 0.9..<1.1, using: &generator)
                return .secondsPrecise(u < 0.95 ? 0.03 * v : 2 * v)
            case .tiny: return .secondsPrecise(1e-6 * Math.power(10_000, u))
            }
        }
    }

    @Test func anEmptyWindowHasNoQuantiles() {
        let window = Window()
        #expect(window.quantile(0.5, now: at(0)) == nil)
        #expect(window.summary(now: at(0)) == nil)
        #expect(window.mean(now: at(0)) == nil)
        #expect(window.count(now: at(0)) == 0)
    }

    @Test func oneSampleIsEveryQuantileExactly() {
        var window = Window()
        window.record(.milliseconds(123), now: at(0))
        let summary = window.summary(now: at(0))
        #expect(summary == LatencySummary(
            count: 1,
            mean: .milliseconds(123),
            minimum: .milliseconds(123),
            maximum: .milliseconds(123),
            p50: .milliseconds(123),
            p90: .milliseconds(123),
            p95: .milliseconds(123),
            p99: .milliseconds(123)
        ))
    }

    @Test(arguments: Shape.allCases, [1, 7, 100, 5_000, 50_000])
    func quantilesAreWithinTheDocumentedRelativeErrorOfExactOnes(shape: Shape, count: Int) {
        var generator = SeededGenerator(seed: UInt64(count) &* 31 &+ UInt64(shape.rawValue.count))
        var window = Window()
        var samples: [Duration] = []
        for index in 0..<count {
            let latency = shape.sample(using: &generator)
            samples.append(latency)
            // Spread over 25 s, inside the 30 s window.
            window.record(latency, now: at(25 * Double(index) / Double(count)))
        }
        let now = at(25)
        let sorted = samples.sorted()
        let bound = Window.relativeAccuracy + 1e-9
        for q in Self.quantiles {
            let estimate = window.quantile(q, now: now)!
            let exact = Self.exact(q, of: sorted)
            let error = abs((estimate - exact).seconds) / exact.seconds
            #expect(error <= bound, "q \(q): \(estimate) vs exact \(exact), \(error * 100) %")
        }
        let summary = window.summary(now: now)!
        #expect(summary.count == count)
        #expect(summary.minimum == sorted.first!)
        #expect(summary.maximum == sorted.last!)
        #expect(summary.p95 == window.quantile(0.95, now: now))
        let exactMean = samples.reduce(Duration.zero, +) / count
        #expect(summary.mean == exactMean)
        #expect(window.mean(now: now) == exactMean)
    }

    @Test func theMeanCountsOnlyLiveSamples() {
        var window = Window(window: .seconds(30), bucketCount: 30)
        for _ in 0..<10 { window.record(.seconds(9), now: at(0)) }
        for _ in 0..<10 { window.record(.seconds(1), now: at(20)) }
        #expect(window.mean(now: at(25)) == .seconds(5))
        #expect(window.mean(now: at(45)) == .seconds(1), "the first ten have left the window")
        #expect(window.mean(now: at(45)) == window.summary(now: at(45))?.mean)
        #expect(window.mean(now: at(100)) == nil)
    }

    @Test func samplesExpireWithTheWindowWhetherOrNotNewOnesArrive() {
        // Buckets are 1 s wide, the grid starting at the first sample.
        var quiet = Window(window: .seconds(30), bucketCount: 30)
        for _ in 0..<10 { quiet.record(.seconds(1), now: at(0)) }
        for _ in 0..<10 { quiet.record(.seconds(1), now: at(0.999)) }
        for _ in 0..<10 { quiet.record(.milliseconds(100), now: at(10)) }
        #expect(quiet.count(now: at(29.999)) == 30)
        #expect(isClose(quiet.quantile(1, now: at(29.999))!, .seconds(1)))
        // At 30 s the first bucket ([0, 1) s) has left the window.
        #expect(quiet.count(now: at(30)) == 10)
        #expect(quiet.quantile(1, now: at(30)) == .milliseconds(100))
        #expect(quiet.summary(now: at(30))?.mean == .milliseconds(100))
        #expect(quiet.count(now: at(40)) == 0)
        #expect(quiet.summary(now: at(40)) == nil)

        // The same with a new sample evicting the old bucket.
        var busy = Window(window: .seconds(30), bucketCount: 30)
        for _ in 0..<10 { busy.record(.seconds(1), now: at(0)) }
        for _ in 0..<10 { busy.record(.milliseconds(100), now: at(10)) }
        busy.record(.milliseconds(100), now: at(30))
        #expect(busy.count(now: at(30)) == 11)
        #expect(busy.quantile(1, now: at(30)) == .milliseconds(100))
        busy.record(.milliseconds(200), now: at(100))
        #expect(busy.summary(now: at(100))?.count == 1)
        #expect(busy.quantile(0, now: at(100)) == .milliseconds(200))
    }

    @Test func memoryStaysBoundedWhateverTheRate() {
        var generator = SeededGenerator(seed: 7)
        var window = Window(window: .seconds(30), bucketCount: 30)
        // 300 000 samples over 5 minutes, spanning the whole trackable range and beyond.
        for index in 0..<300_000 {
            let latency = Duration.secondsPrecise(1e-7 * Math.power(1e12, Double.random(in: 0..<1, using: &generator)))
            window.record(latency, now: at(Double(index) / 1_000))
        }
        let bins = LogHistogram.maximumKey + 1
        #expect(bins < 600)
        #expect(window.storedBinCount <= 31 * bins)
        #expect(window.count(now: at(300)) <= 30_000)
        #expect(window.count(now: at(300)) >= 29_000)
    }

    @Test func extremeLatenciesAreClampedButExtremesStayExact() {
        var window = Window()
        window.record(.zero, now: at(0))
        window.record(.nanoseconds(1), now: at(0))
        window.record(.seconds(5 * 3_600), now: at(0))
        window.record(.seconds(-1), now: at(0))
        let summary = window.summary(now: at(0))!
        #expect(summary.minimum == .zero, "negative counts as zero")
        #expect(summary.maximum == .seconds(5 * 3_600))
        #expect(summary.count == 4)
        #expect(window.quantile(0, now: at(0)) == .zero)
        #expect(window.quantile(1, now: at(0)) == .seconds(5 * 3_600))
        #expect(window.quantile(0.5, now: at(0))! <= .microseconds(1))
    }

    @Test func aSampleOlderThanTheWholeWindowIsDropped() {
        var window = Window(window: .seconds(10), bucketCount: 10)
        window.record(.milliseconds(10), now: at(100))
        window.record(.milliseconds(500), now: at(85))
        #expect(window.count(now: at(100)) == 1)
        window.record(.milliseconds(20), now: at(95))  // out of order, but inside the window
        #expect(window.count(now: at(100)) == 2)
        window.record(.milliseconds(30), now: at(99.5))  // before the first sample's bucket grid
        #expect(window.count(now: at(100)) == 3)
        #expect(window.count(now: at(104.999)) == 3)
        #expect(window.count(now: at(105)) == 2, "the sample at 95 s has left")
        #expect(window.count(now: at(108.999)) == 2)
        #expect(window.count(now: at(109)) == 1, "the sample at 99.5 s has left")
    }

    @Test func aQuantileCanDemandAMinimumNumberOfSamples() {
        var window = Window()
        for _ in 0..<19 { window.record(.milliseconds(10), now: at(0)) }
        #expect(window.quantile(0.95, now: at(0), minimumCount: 20) == nil)
        window.record(.milliseconds(10), now: at(0))
        #expect(window.quantile(0.95, now: at(0), minimumCount: 20) == .milliseconds(10))
    }

    @Test func removeAllForgetsEverything() {
        var window = Window()
        window.record(.milliseconds(10), now: at(0))
        window.removeAll()
        #expect(window.summary(now: at(0)) == nil)
        window.record(.milliseconds(20), now: at(1))
        #expect(window.quantile(0.5, now: at(1)) == .milliseconds(20))
    }

    @Test func aQuantileOutsideZeroToOneIsAProgrammingError() async {
        await #expect(processExitsWith: .failure) {
            var window = RollingLatencyWindow<ContinuousClock>()
            let now = ContinuousClock.now
            window.record(.milliseconds(1), now: now)
            _ = window.quantile(1.5, now: now)
        }
    }
}
