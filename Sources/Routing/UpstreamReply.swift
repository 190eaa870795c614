import EthereumKit
import NIOCore
import Upstreams

/// How an upstream's answer to one attempt is read.
public enum UpstreamReply: Sendable {
    /// A JSON-RPC answer that belongs to the request: a result, or an error about the request
    /// itself (invalid params, execution reverted, nonce too low, ...), passed to the client unchanged.
    case answered(member: String, value: [UInt8], errorCode: Int?, errorMessage: String?)
    /// The upstream failed: count it against the upstream and try elsewhere.
    case upstreamFailure(UpstreamFailure)
}

/// Why an attempt counts against an upstream.
public struct UpstreamFailure: Error, Sendable, Equatable {
    public enum Kind: Sendable, Equatable, CaseIterable {
        case connectionRefused, timeout, connectionClosed, tls, http5xx, rateLimited, invalidResponse, rpcUpstreamError, wrongChain, other
    }

    public var kind: Kind
    /// One line for `data.attempts`, e.g. `HTTP 503`, `timeout after 2000 ms`.
    public var description: String
    /// From `Retry-After` on a 429.
    public var retryAfter: Duration?
    /// For `rpcUpstreamError`: the upstream's `error` value, to pass on when every upstream says the same.
    public var errorValue: [UInt8]?

    public init(_ kind: Kind, _ description: String, retryAfter: Duration? = nil, errorValue: [UInt8]? = nil) {
        self.kind = kind
        self.description = description
        self.retryAfter = retryAfter
        self.errorValue = errorValue
    }
}

enum ReplyClassifier {
    /// Reads an HTTP answer from an upstream (SPEC section 3: request errors pass through,
    /// upstream errors are counted and retried elsewhere).
    /// Methods whose result is a `0x` hex string (quantity or data) in every conformant client.
    static let hexResults: Set<String> = [
        "eth_blockNumber", "eth_chainId", "eth_getBalance", "eth_getTransactionCount", "eth_gasPrice",
        "eth_maxPriorityFeePerGas", "eth_estimateGas", "eth_getCode", "eth_getStorageAt", "eth_call",
        "eth_sendRawTransaction", "eth_blobBaseFee", "eth_getBlockTransactionCountByNumber", "eth_getBlockTransactionCountByHash",
    ]
    /// Methods whose result is an object, or null when the thing is unknown.
    static let objectResults: Set<String> = [
        "eth_getBlockByNumber", "eth_getBlockByHash", "eth_getTransactionByHash", "eth_getTransactionReceipt",
        "eth_getProof", "eth_feeHistory", "eth_getTransactionByBlockNumberAndIndex", "eth_getTransactionByBlockHashAndIndex",
    ]
    /// Methods whose result is an array (or null).
    static let arrayResults: Set<String> = ["eth_getLogs", "eth_getBlockReceipts"]

    /// Reads an HTTP answer from an upstream to a call of `method` (SPEC section 3: request
    /// errors pass through, upstream errors are counted and retried elsewhere). A result of
    /// the wrong JSON type for the method (a decimal number where a hex string belongs, an
    /// HTML page) is the upstream's fault.
    static func classify(_ response: UpstreamHTTPResponse, method: String) -> UpstreamReply {
        let reply = classify(response)
        guard case .answered("result", let value, _, _) = reply, let first = value.first else { return reply }
        let isNull = value.elementsEqual("null".utf8)
        let wrongShape: Bool
        if hexResults.contains(method) {
            wrongShape = !(first == UInt8(ascii: "\"") && value.count >= 4 && value[1] == UInt8(ascii: "0") && (value[2] == UInt8(ascii: "x") || value[2] == UInt8(ascii: "X")))
                && !(isNull && method == "eth_getBlockTransactionCountByHash")
        } else if objectResults.contains(method) {
            wrongShape = first != UInt8(ascii: "{") && !isNull
        } else if arrayResults.contains(method) {
            wrongShape = first != UInt8(ascii: "[") && !isNull
        } else {
            wrongShape = false
        }
        return wrongShape ? .upstreamFailure(UpstreamFailure(.invalidResponse, "\(method) answered with a result of the wrong type")) : reply
    }

    static func classify(_ response: UpstreamHTTPResponse) -> UpstreamReply {
        if response.status == 429 {
            let retryAfter = response.headers["Retry-After"].flatMap(Int.init).map { Duration.seconds($0) }
            return .upstreamFailure(UpstreamFailure(.rateLimited, "rate limited (HTTP 429)", retryAfter: retryAfter))
        }
        guard response.status == 200 else {
            return .upstreamFailure(UpstreamFailure(response.status >= 500 ? .http5xx : .invalidResponse, "HTTP \(response.status)"))
        }
        // Checked whole, but the result is not built: it goes on to the client as the bytes it arrived as.
        let body = response.body.readableBytesView
        let members: [(key: String, span: Range<Int>)]
        do { members = try JSONValue.memberSpans(body) } catch {
            return .upstreamFailure(UpstreamFailure(.invalidResponse, "invalid JSON from the upstream"))
        }
        func bytes(_ span: Range<Int>) -> [UInt8] { Array(body[(body.startIndex + span.lowerBound)..<(body.startIndex + span.upperBound)]) }
        if let result = members.first(where: { $0.key == "result" }) {
            return .answered(member: "result", value: bytes(result.span), errorCode: nil, errorMessage: nil)
        }
        guard let error = members.first(where: { $0.key == "error" }), case .object(let fields)? = try? JSONValue.parse(bytes(error.span)) else {
            return .upstreamFailure(UpstreamFailure(.invalidResponse, "JSON-RPC answer without result or error"))
        }
        var code = 0
        if case .number(let number)? = fields["code"] { code = Int(number) }
        let message = fields["message"]?.stringValue ?? ""
        if code == -32603 && (message.contains("-32601") || message.lowercased().contains("not been implemented") || message.lowercased().contains("not implemented")) {
            // A method the upstream lacks, wrapped as an internal error (seen from eth-tester based servers).
            return .answered(member: "error", value: bytes(error.span), errorCode: -32601, errorMessage: message)
        }
        if isUpstreamError(code: code, message: message) {
            if code == -32005 || message.lowercased().contains("rate limit") {
                return .upstreamFailure(UpstreamFailure(.rateLimited, "rate limited (\(code))"))
            }
            return .upstreamFailure(UpstreamFailure(.rpcUpstreamError, "error \(code): \(message.prefix(120))", errorValue: bytes(error.span)))
        }
        return .answered(member: "error", value: bytes(error.span), errorCode: code, errorMessage: message)
    }

    /// Errors that say the upstream could not serve (its fault, not the request's).
    static func isUpstreamError(code: Int, message: String) -> Bool {
        let lowered = message.lowercased()
        if code == -32005 || code == -32603 || code == -32001 || code == -32002 || code == -32004 { return true }
        let upstreamPhrases = [
            "header not found", "missing trie node", "rate limit", "too many requests", "capacity exceeded",
            "internal error", "timeout", "timed out", "unavailable", "not synced", "syncing", "historical state",
            "backend", "upstream", "try again", "request limit", "daily request count",
        ]
        return upstreamPhrases.contains { lowered.contains($0) }
    }
}
