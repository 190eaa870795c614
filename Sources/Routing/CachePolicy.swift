import EthereumKit

/// What may be cached, and for how long (SPEC section 6). Pure: decisions come from the
/// method, its parameters (with `latest` already pinned to the consensus head), the answer
/// and the chain's head and finality.
///
/// Two tiers: *final* answers (about blocks at or below the finality boundary, or that can
/// never change) are kept forever in the configured store; *head* answers (anything about
/// non-final blocks, or about the current head) are kept only while the head stays the
/// same — any change of the consensus head, by number or by hash, drops them all, so no
/// answer from a branch abandoned by a reorg outlives the moment the reorg is seen.
enum CachePolicy {
    /// How a method's answer depends on the chain.
    enum Rule: Equatable, Sendable {
        /// Never cached: transactions, filters, subscriptions, pending state, node-local data.
        case never
        /// The same on every node forever (`net_version`).
        case forever
        /// About the block with this number.
        case block(UInt64)
        /// About the block named by a hash (or an unresolved tag): final once the answer shows
        /// the block's number is final, otherwise head-tier.
        case blockInAnswer
        /// About a transaction by hash: final once the answer's block is final; a `null` (not
        /// mined yet) or pending answer is not cached at all.
        case transaction
        /// About the current head (gas price, `safe`, `latest` before a head is known).
        case head
    }

    /// Where an answer goes.
    enum Placement: Equatable, Sendable {
        case none
        case head
        case final
    }

    /// The chain as the cache sees it when an answer arrives.
    struct Chain: Equatable, Sendable {
        /// Consensus head number.
        var head: UInt64
        /// Highest block that cannot be reorganised away: the chain's `finalized` tag agreed by
        /// two failure domains, or `finalityDepth` below the head.
        var finalized: UInt64
    }

    static func rule(method: String, params: JSONValue?) -> Rule {
        switch method {
        case "net_version", "eth_chainId":
            return .forever
        case "eth_getTransactionByHash", "eth_getTransactionReceipt":
            return .transaction
        case "eth_getBlockByHash", "eth_getBlockTransactionCountByHash", "eth_getTransactionByBlockHashAndIndex",
             "eth_getUncleByBlockHashAndIndex", "eth_getUncleCountByBlockHash":
            return .blockInAnswer
        case "eth_gasPrice", "eth_maxPriorityFeePerGas", "eth_blobBaseFee", "eth_feeHistory", "eth_blockNumber", "eth_estimateGas":
            return .head
        case "eth_getLogs":
            return logsRule(params)
        default:
            guard let index = blockParameterIndex[method] else { return .never }
            guard case .array(let list)? = params else { return params == nil ? .head : .never }
            return index < list.count ? blockRule(list[index]) : .head
        }
    }

    /// Block parameter positions of cacheable block-dependent methods.
    static let blockParameterIndex: [String: Int] = BlockTagPinning.blockParameterIndex.merging([
        "eth_getUncleCountByBlockNumber": 0, "eth_getUncleByBlockNumberAndIndex": 0,
    ]) { current, _ in current }

    /// A block parameter: a number, a tag, or an EIP-1898 object.
    static func blockRule(_ parameter: JSONValue) -> Rule {
        switch parameter {
        case .string("earliest"):
            return .block(0)
        case .string("pending"):
            return .never
        case .string(let text) where text.hasPrefix("0x") && text.count > 2:
            // A 32-byte hash where a block is expected (eth_getBlockReceipts takes either).
            if text.count == 66 { return .blockInAnswer }
            return parameter.quantityValue.map(Rule.block) ?? .never
        case .string:
            return .head  // latest (before a head is known), safe, finalized: they move with the head
        case .object(let object):
            if let number = object["blockNumber"] { return blockRule(number) }
            return object["blockHash"] != nil ? .head : .never
        default:
            return .never
        }
    }

    /// `eth_getLogs`: final when the whole range is; by block hash, as the logs show.
    static func logsRule(_ params: JSONValue?) -> Rule {
        guard case .array(let list)? = params, list.count == 1, case .object(let filter) = list[0] else { return .never }
        if filter["blockHash"] != nil { return .blockInAnswer }
        let to = filter["toBlock"] ?? .string("latest")
        let from = filter["fromBlock"] ?? .string("latest")
        if case .never = blockRule(from) { return .never }
        return blockRule(to) == .blockInAnswer ? .never : blockRule(to)
    }

    /// Where an answer (a JSON `result`) of a call under `rule` goes, given the chain now.
    static func placement(_ rule: Rule, result: [UInt8], chain: Chain) -> Placement {
        switch rule {
        case .never:
            return .none
        case .forever:
            return .final
        case .head:
            return .head
        case .block(let number):
            if number > chain.head { return .none }
            // A `null` block or receipt list at a final height is some upstream's gap, not the chain's answer.
            if number <= chain.finalized { return isNull(result) ? .none : .final }
            return .head
        case .blockInAnswer:
            guard let number = blockNumber(inAnswer: result) else { return .head }
            return number <= chain.finalized ? .final : .head
        case .transaction:
            guard let number = blockNumber(inAnswer: result) else { return .none }
            return number <= chain.finalized ? .final : .head
        }
    }

    /// The block an answer is about: a block's `number`, an object's `blockNumber`, or the
    /// highest `blockNumber` in a list (logs, receipts); nil when it names none.
    static func blockNumber(inAnswer result: [UInt8]) -> UInt64? {
        guard let value = try? JSONValue.parse(result) else { return nil }
        func number(of object: JSONValue) -> UInt64? {
            guard case .object(let fields) = object else { return nil }
            return (fields["blockNumber"] ?? fields["number"])?.quantityValue
        }
        if case .array(let items) = value {
            let numbers = items.map(number(of:))
            guard !numbers.isEmpty, !numbers.contains(nil) else { return nil }
            return numbers.compactMap { $0 }.max()
        }
        return number(of: value)
    }

    static func isNull(_ result: [UInt8]) -> Bool {
        result.elementsEqual("null".utf8) || (try? JSONValue.parse(result)) == .null
    }
}
