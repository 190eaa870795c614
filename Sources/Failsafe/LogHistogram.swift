/// Counts of latencies in logarithmic bins with a fixed relative accuracy, like DDSketch or
/// HdrHistogram: bounded memory, mergeable, and quantiles within `relativeAccuracy` of the
/// exact sample.
///
/// Bin `k` holds values in `(minimum·γᵏ⁻¹, minimum·γᵏ]` with `γ = (1+α)/(1−α)`; it reports
/// `minimum·2γᵏ/(γ+1)`, which is within `α` of anything in the bin. Values are clamped to
/// `[minimum, maximum]` first, so there are at most `maximumKey + 1` bins (577 for α = 2 %,
/// 1 µs … 10⁴ s); only the span between the smallest and largest bin used is stored.
struct LogHistogram: Hashable, Sendable {
    /// α: the largest relative error of a reported value.
    static let relativeAccuracy = 0.02
    /// The smallest value told apart, in seconds (1 µs).
    static let minimumSeconds = 1e-6
    /// The largest value told apart, in seconds (10⁴ s, about 2.8 h).
    static let maximumSeconds = 1e4
    private static let gamma = (1 + relativeAccuracy) / (1 - relativeAccuracy)
    private static let logGamma = Math.naturalLogarithm(gamma)
    static let maximumKey = key(forSeconds: maximumSeconds)

    /// The key of `counts[0]`.
    private var offset = 0
    private var counts: [Int] = []
    /// How many values were added (minus those subtracted).
    private(set) var total = 0

    /// The bin of a value in seconds.
    static func key(forSeconds seconds: Double) -> Int {
        let clamped = min(max(seconds, minimumSeconds), maximumSeconds)
        let key = (Math.naturalLogarithm(clamped / minimumSeconds) / logGamma).rounded(.up)
        return max(Int(key), 0)
    }

    /// The value a bin reports, in seconds.
    static func value(ofKey key: Int) -> Double {
        minimumSeconds * 2 * Math.exponential(Double(key) * logGamma) / (gamma + 1)
    }

    /// The keys from the lowest to the highest bin stored (possibly with empty bins between).
    var keys: Range<Int> { offset..<(offset + counts.count) }

    /// How many values are in bin `key`.
    func count(atKey key: Int) -> Int {
        let position = key - offset
        return counts.indices.contains(position) ? counts[position] : 0
    }

    /// Adds `count` values to bin `key`, growing the stored span as needed.
    mutating func add(key: Int, count: Int = 1) {
        if counts.isEmpty {
            offset = key
            counts = [0]
        } else if key < offset {
            counts.insert(contentsOf: repeatElement(0, count: offset - key), at: 0)
            offset = key
        } else if key >= offset + counts.count {
            counts.append(contentsOf: repeatElement(0, count: key - offset - counts.count + 1))
        }
        counts[key - offset] += count
        total += count
    }

    /// Removes the values of `other`, which must have been added before.
    mutating func subtract(_ other: LogHistogram) {
        for key in other.keys {
            let count = other.count(atKey: key)
            guard count > 0 else { continue }
            counts[key - offset] -= count
        }
        total -= other.total
        if total == 0 {
            offset = 0
            counts = []
        }
    }
}
