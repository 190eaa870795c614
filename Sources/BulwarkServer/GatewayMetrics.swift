import Metrics
import Routing
import Synchronization

/// Client-facing metrics: calls and their latency by chain, method (from an allowlist, so
/// labels stay bounded whatever clients send), outcome and cache status (hit, miss, stale).
final class GatewayMetrics: Sendable {
    /// Methods reported by name; any other method is reported as `other`.
    static let methodAllowlist: Set<String> = [
        "eth_blockNumber", "eth_chainId", "net_version", "eth_getBalance", "eth_getTransactionCount", "eth_getCode",
        "eth_getStorageAt", "eth_getProof", "eth_call", "eth_estimateGas", "eth_gasPrice", "eth_maxPriorityFeePerGas",
        "eth_feeHistory", "eth_getBlockByNumber", "eth_getBlockByHash", "eth_getBlockReceipts", "eth_getTransactionByHash",
        "eth_getTransactionReceipt", "eth_getLogs", "eth_sendRawTransaction", "eth_syncing", "web3_clientVersion",
        "eth_getBlockTransactionCountByNumber", "eth_getBlockTransactionCountByHash", "eth_getTransactionByBlockNumberAndIndex",
        "eth_getTransactionByBlockHashAndIndex", "eth_blobBaseFee",
    ]

    private struct Key: Hashable {
        var chain: String
        var method: String
        var outcome: String
        var cache: String
    }

    /// Per label set, its counter and the (chain, method) timer: one lookup per call.
    private let metrics = Mutex<[Key: (counter: Counter, timer: Timer)]>([:])

    func record(chain: String, method: String, outcome: CallOutcome, latency: Duration) {
        let name = Self.methodAllowlist.contains(method) ? method : "other"
        let result: String
        switch outcome {
        case .answered(let member, _, _): result = member == "result" ? "ok" : "rpc_error"
        case .local, .cached, .verified: result = "ok"
        case .failed(let error): result = "gateway_error_\(-error.code)"
        }
        let cache = outcome.cacheStatus.name
        let key = Key(chain: chain, method: name, outcome: result, cache: cache)
        let (counter, timer) = metrics.withLock { metrics in
            if let existing = metrics[key] { return existing }
            // The factory hands out one timer per (chain, method) label set however often it is made.
            let made = (Counter(label: "bulwark_requests_total", dimensions: [("chain", chain), ("method", name), ("outcome", result), ("cache", cache)]),
                        Timer(label: "bulwark_request_duration_seconds", dimensions: [("chain", chain), ("method", name)], preferredDisplayUnit: .seconds))
            metrics[key] = made
            return made
        }
        counter.increment()
        timer.recordNanoseconds(latency.components.seconds * 1_000_000_000 + latency.components.attoseconds / 1_000_000_000)
    }
}
