import EthereumKit

/// Rewrites the `latest` block tag (and an omitted block parameter) to the consensus
/// head, so every upstream answers at the same block (SPEC section 4).
enum BlockTagPinning {
    /// Position of the block parameter for methods that take one.
    static let blockParameterIndex: [String: Int] = [
        "eth_getBalance": 1, "eth_getTransactionCount": 1, "eth_getCode": 1, "eth_getStorageAt": 2,
        "eth_call": 1, "eth_getProof": 2, "eth_getBlockByNumber": 0, "eth_getBlockReceipts": 0,
        "eth_getBlockTransactionCountByNumber": 0, "eth_getTransactionByBlockNumberAndIndex": 0,
    ]

    /// The explicit block number a call asks for, if any (a hex number in the block parameter).
    static func requestedBlock(method: String, params: JSONValue?) -> UInt64? {
        guard let index = blockParameterIndex[method], case .array(let list)? = params, index < list.count else { return nil }
        let value: JSONValue
        if case .object(let object) = list[index], let number = object["blockNumber"] { value = number } else { value = list[index] }
        return value.quantityValue
    }

    static func pin(method: String, params: JSONValue?, head: UInt64) -> JSONValue? {
        pinned(method: method, params: params, head: head) ?? params
    }

    /// The params with the head's number in place of `latest` (or of an omitted block parameter);
    /// nil when nothing changes.
    static func pinned(method: String, params: JSONValue?, head: UInt64) -> JSONValue? {
        guard let index = blockParameterIndex[method], case .array(var list)? = params else { return nil }
        if index < list.count {
            guard list[index] == .string("latest") else { return nil }
            list[index] = .quantity(head)
        } else if index == list.count && method != "eth_getBlockByNumber" {
            list.append(.quantity(head))
        } else {
            return nil
        }
        return .array(list)
    }
}
