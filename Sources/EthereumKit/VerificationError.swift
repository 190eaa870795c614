/// Why a check could not confirm what an answer claims.
///
/// `malformedInput` means the input is not what it should be (bad JSON, a missing
/// field, odd-length hex, a proof node that is not RLP); `mismatch` means it is
/// well-formed but does not prove what it claims (a hash or root differs).
public struct VerificationError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        case malformedInput
        case mismatch
    }

    public let kind: Kind
    /// One line a person can act on.
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    static func malformed(_ message: String) -> VerificationError { .init(.malformedInput, message) }
    static func mismatch(_ message: String) -> VerificationError { .init(.mismatch, message) }

    public var description: String { message }
}
