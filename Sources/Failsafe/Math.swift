#if canImport(Darwin)
import Darwin
#elseif canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Android)
import Android
#endif

/// The few libm functions the policies need, so the module stays free of Foundation.
enum Math {
    static func naturalLogarithm(_ x: Double) -> Double { log(x) }
    static func exponential(_ x: Double) -> Double { exp(x) }
    static func power(_ base: Double, _ exponent: Double) -> Double { pow(base, exponent) }
}

extension Duration {
    /// This duration in seconds, for rates and ratios (not for exact arithmetic).
    public var inSeconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }

    /// This duration in whole nanoseconds (truncated; saturating beyond ~292 years).
    public var inNanoseconds: Int64 {
        Int64(clamping: attoseconds / 1_000_000_000)
    }

    /// `seconds` as a duration rounded up to whole nanoseconds, so that waiting this long is never
    /// too short. Zero, negative and NaN give zero; values beyond ~292 years saturate.
    static func secondsRoundedUp(_ seconds: Double) -> Duration {
        guard seconds > 0 else { return .zero }
        let nanoseconds = (seconds * 1e9).rounded(.up)
        guard nanoseconds < Double(Int64.max) else { return .nanoseconds(Int64.max) }
        return .nanoseconds(Int64(nanoseconds))
    }

    /// `seconds` as a duration rounded to the nearest nanosecond; NaN and negative give zero,
    /// values beyond ~292 years saturate.
    static func secondsRounded(_ seconds: Double) -> Duration {
        guard seconds > 0 else { return .zero }
        let nanoseconds = (seconds * 1e9).rounded()
        guard nanoseconds < Double(Int64.max) else { return .nanoseconds(Int64.max) }
        return .nanoseconds(Int64(nanoseconds))
    }

    /// `seconds` as a duration to the nearest attosecond, for estimates that must not lose
    /// relative precision on microsecond values; NaN and negative give zero, values beyond
    /// 10¹⁸ s saturate there.
    static func secondsPrecise(_ seconds: Double) -> Duration {
        guard seconds > 0 else { return .zero }
        return Duration(attoseconds: Int128((min(seconds, 1e18) * 1e18).rounded()))
    }

    /// `self` limited to `bounds`.
    func clamped(to bounds: ClosedRange<Duration>) -> Duration {
        Swift.min(Swift.max(self, bounds.lowerBound), bounds.upperBound)
    }
}
