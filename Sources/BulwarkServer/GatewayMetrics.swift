import Failsafe
import Metrics
import Routing
import Synchronization

/// Client-facing metrics: calls and their latency by chain, method (from an allowlist, so
/// labels stay bounded whatever clients send), outcome and cache status (hit, miss, stale).
final class GatewayMetrics: Sendable {
    /// Methods reported by name; any other method is reported as `other`.
    static let methodAllowlist: [String] = [
        "eth_blockNumber", "eth_chainId", "net_version", "eth_getBalance", "eth_getTransactionCount", "eth_getCode",
        "eth_getStorageAt", "eth_getProof", "eth_call", "eth_estimateGas", "eth_gasPrice", "eth_maxPriorityFeePerGas",
        "eth_feeHistory", "eth_getBlockByNumber", "eth_getBlockByHash", "eth_getBlockReceipts", "eth_getTransactionByHash",
        "eth_getTransactionReceipt", "eth_getLogs", "eth_sendRawTransaction", "eth_syncing", "web3_clientVersion",
        "eth_getBlockTransactionCountByNumber", "eth_getBlockTransactionCountByHash", "eth_getTransactionByBlockNumberAndIndex",
        "eth_getTransactionByBlockHashAndIndex", "eth_blobBaseFee",
    ]

    /// A method's place in the allowlist (`methodAllowlist.count`: `other`).
    private static let methodNumbers: [String: Int] = Dictionary(uniqueKeysWithValues: methodAllowlist.enumerated().map { ($1, $0) })

    /// A label set as numbers: hashing it costs a few instructions, hashing its strings did not.
    private struct Key: Hashable {
        /// The chain's router.
        var chain: ObjectIdentifier
        /// Method number, outcome (0 ok, 1 rpc_error, else the gateway error's code negated) and cache status.
        var method: Int
        var outcome: Int
        var cache: UInt8
    }

    /// Per label set, its counter and the (chain, method) timer: one lookup per call.
    private let metrics = Mutex<[Key: (counter: Counter, timer: Timer)]>([:])

    func record(chain: GatewayChain, method: String, outcome: CallOutcome, latency: Duration) {
        let methodNumber = Self.methodNumbers[method] ?? Self.methodAllowlist.count
        let result: Int
        switch outcome {
        case .answered(let member, _, _): result = member == "result" ? 0 : 1
        case .local, .cached, .verified: result = 0
        case .failed(let error): result = -error.code
        }
        let cache = outcome.cacheStatus
        let cacheNumber: UInt8 = switch cache {
        case .hit: 0
        case .miss: 1
        case .stale: 2
        }
        let key = Key(chain: ObjectIdentifier(chain.router), method: methodNumber, outcome: result, cache: cacheNumber)
        let (counter, timer) = metrics.withLock { metrics in
            if let existing = metrics[key] { return existing }
            let name = methodNumber < Self.methodAllowlist.count ? method : "other"
            let outcome = switch result {
            case 0: "ok"
            case 1: "rpc_error"
            default: "gateway_error_\(result)"
            }
            // The factory hands out one timer per (chain, method) label set however often it is made.
            let made = (Counter(label: "bulwark_requests_total", dimensions: [("chain", chain.name), ("method", name), ("outcome", outcome), ("cache", cache.name)]),
                        Timer(label: "bulwark_request_duration_seconds", dimensions: [("chain", chain.name), ("method", name)], preferredDisplayUnit: .seconds))
            metrics[key] = made
            return made
        }
        counter.increment()
        timer.recordNanoseconds(latency.inNanoseconds)
    }
}
