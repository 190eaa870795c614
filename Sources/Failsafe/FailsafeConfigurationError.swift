/// A policy value that cannot work as configured, such as a negative cool-down or a burst of zero.
///
/// Every configuration in this module validates itself when it is created, so a running gateway
/// never meets a policy that divides by zero or never recovers. The config layer reports
/// ``parameter`` against its own YAML path.
public struct FailsafeConfigurationError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The initializer parameter that is out of range, e.g. `openDuration`.
    public let parameter: String
    /// What is wrong and what would be accepted, in words a person can act on.
    public let reason: String

    public init(parameter: String, reason: String) {
        self.parameter = parameter
        self.reason = reason
    }

    public var description: String { "\(parameter): \(reason)" }

    /// Throws unless `condition` holds.
    static func require(
        _ condition: Bool,
        _ parameter: String,
        _ reason: @autoclosure () -> String
    ) throws(FailsafeConfigurationError) {
        if !condition {
            throw FailsafeConfigurationError(parameter: parameter, reason: reason())
        }
    }
}
