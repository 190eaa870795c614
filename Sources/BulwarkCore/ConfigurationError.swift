/// One problem in a gateway configuration, located by its YAML path
/// (`chains[0].upstreams[1].labels.region`), so a person can go straight to it.
///
/// Messages never contain secret values (API keys, environment-variable values,
/// URLs or headers): they name the path or the variable instead.
public struct ConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Where the problem is, e.g. `server.listen`; empty for problems with the document as a whole.
    public let path: String
    public let message: String

    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }

    /// `path: message`, or just the message when there is no path.
    public var description: String { path.isEmpty ? message : "\(path): \(message)" }
}

/// Every problem found in a configuration: parsing does not stop at the first one,
/// so a user can fix them all in one pass.
public struct ConfigurationErrors: Error, Sendable, Equatable, CustomStringConvertible {
    public let errors: [ConfigurationError]

    public init(_ errors: [ConfigurationError]) {
        self.errors = errors
    }

    /// One error per line.
    public var description: String { errors.map(\.description).joined(separator: "\n") }

    /// The messages at `path`, in the order they were found (handy in tests and tools).
    public func messages(at path: String) -> [String] {
        errors.filter { $0.path == path }.map(\.message)
    }
}
