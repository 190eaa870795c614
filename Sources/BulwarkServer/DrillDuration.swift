/// Durations in drill requests: `500ms`, `30s`, `5m`, `1h`.
enum DrillDuration {
    static func parse(_ text: String) -> Duration? {
        let units: [(String, Int64)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000)]
        for (suffix, milliseconds) in units where text.hasSuffix(suffix) {
            if let value = Int64(text.dropLast(suffix.count)), value > 0 { return .milliseconds(value * milliseconds) }
        }
        return nil
    }
}
