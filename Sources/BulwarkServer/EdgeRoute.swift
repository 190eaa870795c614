/// What an HTTP request to the gateway asks for (SPEC section 3), decided from its method and
/// path alone.
enum EdgeRoute: Equatable {
    /// JSON-RPC: `POST /`, `POST /{chain}`, or `POST /{chain}/{key}` with the API key as the last segment.
    case rpc(chain: String?, pathKey: String?)
    case health
    case readiness
    case status
    case metrics
    case startDrill
    case endDrill
    case notFound

    init(method: String, target: String) {
        let path = Substring(target.utf8.prefix { $0 != UInt8(ascii: "?") && $0 != UInt8(ascii: "#") })
        let segments = path.split(separator: "/", omittingEmptySubsequences: true)
        switch (method, segments.count) {
        case ("POST", 0): self = .rpc(chain: nil, pathKey: nil)
        case ("POST", 1) where segments[0] != "admin": self = .rpc(chain: String(segments[0]), pathKey: nil)
        case ("POST", 2) where segments[0] == "admin" && segments[1] == "drill": self = .startDrill
        case ("POST", 2) where segments[0] != "admin": self = .rpc(chain: String(segments[0]), pathKey: String(segments[1]))
        case ("DELETE", 2) where segments[0] == "admin" && segments[1] == "drill": self = .endDrill
        case ("GET", 1):
            switch segments[0] {
            case "healthz": self = .health
            case "readyz": self = .readiness
            case "status": self = .status
            case "metrics": self = .metrics
            default: self = .notFound
            }
        default: self = .notFound
        }
    }

    /// Largest body the route reads (a longer one is answered 413 without being kept); nil: the
    /// route reads no body, and one sent anyway is discarded.
    func bodyLimit(rpc: Int) -> Int? {
        switch self {
        case .rpc: rpc
        case .startDrill: 65_536
        default: nil
        }
    }
}
