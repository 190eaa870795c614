import Foundation

/// How a provider face misbehaves (SPEC section 7), as real providers do on a bad day.
public enum Fault: Equatable, Sendable {
    /// Serves correctly.
    case none
    /// Not listening: connections are refused, open ones are closed.
    case down
    /// Accepts connections and requests, never answers.
    case stall
    /// Answers correctly after this many milliseconds.
    case slow(milliseconds: Int)
    /// Serves a head this many blocks behind the chain's.
    case lag(blocks: Int)
    /// Wrong balances, and account proofs forged to match them (which fail verification).
    case lie
    /// HTTP 429 with a JSON-RPC -32005 error and `Retry-After`.
    case ratelimit
    /// HTTP 200 with a body that is not JSON.
    case garbage
    /// Claims another chain: `eth_chainId` and `net_version` are off by one.
    case wrongchain
    /// Fails this fraction (0…1) of requests with HTTP 503.
    case flaky(probability: Double)
    /// Sends the response head and half the body, then closes: a process killed mid-response.
    case cutoff
    /// Sends the response head and half the body, then resets the connection (TCP RST).
    case reset

    /// Parses the config and admin-API form: `none`, `down`, `stall`, `slow:200ms`,
    /// `lag:5`, `lie`, `ratelimit`, `garbage`, `wrongchain`, `flaky:0.3`.
    public init(parsing text: String) throws(SimnetConfigurationError) {
        let parts = text.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
        let name = parts.first?.lowercased() ?? ""
        let argument = parts.count > 1 ? parts[1] : nil
        func noArgument(_ fault: Fault) throws(SimnetConfigurationError) -> Fault {
            guard argument == nil else { throw .init("fault '\(name)' takes no argument") }
            return fault
        }
        switch name {
        case "none", "": self = try noArgument(.none)
        case "down": self = try noArgument(.down)
        case "stall": self = try noArgument(.stall)
        case "lie": self = try noArgument(.lie)
        case "ratelimit": self = try noArgument(.ratelimit)
        case "garbage": self = try noArgument(.garbage)
        case "wrongchain": self = try noArgument(.wrongchain)
        case "cutoff": self = try noArgument(.cutoff)
        case "reset": self = try noArgument(.reset)
        case "slow":
            guard let argument, let duration = try? parseDuration(argument), duration >= .zero else {
                throw .init("fault 'slow' needs a delay, e.g. slow:200ms")
            }
            self = .slow(milliseconds: Int(duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000))
        case "lag":
            guard let argument, let blocks = Int(argument), blocks >= 0 else {
                throw .init("fault 'lag' needs a number of blocks, e.g. lag:5")
            }
            self = .lag(blocks: blocks)
        case "flaky":
            guard let argument, let p = Double(argument), (0...1).contains(p) else {
                throw .init("fault 'flaky' needs a probability between 0 and 1, e.g. flaky:0.3")
            }
            self = .flaky(probability: p)
        default:
            throw .init("unknown fault '\(text)'; use none, down, stall, slow:MS, lag:N, lie, ratelimit, garbage, wrongchain, flaky:P, cutoff or reset")
        }
    }
}

extension Fault: CustomStringConvertible {
    /// The same form `init(parsing:)` reads.
    public var description: String {
        switch self {
        case .none: "none"
        case .down: "down"
        case .stall: "stall"
        case .slow(let ms): "slow:\(ms)ms"
        case .lag(let blocks): "lag:\(blocks)"
        case .lie: "lie"
        case .ratelimit: "ratelimit"
        case .garbage: "garbage"
        case .wrongchain: "wrongchain"
        case .flaky(let p): "flaky:\(p)"
        case .cutoff: "cutoff"
        case .reset: "reset"
        }
    }
}

/// Parses `1s`, `250ms`, `2m`, `1h`, or a bare number of seconds.
func parseDuration(_ text: String) throws(SimnetConfigurationError) -> Duration {
    let trimmed = text.trimmingCharacters(in: .whitespaces)
    let units: [(suffix: String, scale: Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
    for unit in units where trimmed.hasSuffix(unit.suffix) {
        if let value = Double(trimmed.dropLast(unit.suffix.count)), value >= 0 {
            return .milliseconds(Int64((value * unit.scale * 1000).rounded()))
        }
    }
    if let seconds = Double(trimmed), seconds >= 0 { return .milliseconds(Int64((seconds * 1000).rounded())) }
    throw .init("'\(text)' is not a duration (use ms, s, m or h, e.g. 500ms)")
}

/// A problem with a simnet configuration or an admin request, in one line.
public struct SimnetConfigurationError: Error, Equatable, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
