/// Canonical encoding of signed transactions from their JSON-RPC form, to
/// rebuild `transactionsRoot` and check each transaction's `hash`.
///
/// Types: 0 legacy, 1 EIP-2930 (access list), 2 EIP-1559 (dynamic fee),
/// 3 EIP-4844 (blob), 4 EIP-7702 (set code). A typed transaction is encoded
/// as `type || rlp(fields)`; a legacy one as `rlp(fields)`.
public enum TransactionEncoding {
    /// The transaction types this encoder knows.
    public static let knownTypes: ClosedRange<UInt64> = 0...4

    /// The canonical (network) encoding of the transaction at `path` in the input.
    public static func encode(json: JSONValue, path: String) throws(VerificationError) -> [UInt8] {
        let tx = try JSONFields(json, path: path, what: "a transaction object")
        let type = tx.has("type") ? try tx.uint64("type") : 0
        guard knownTypes.contains(type) else {
            throw .malformed("\(path): transaction type 0x\(String(type, radix: 16)) is not one this version can encode")
        }
        let input = try tx.data(tx.has("input") ? "input" : "data")
        var fields: [RLPItem] = []
        if type != 0 { fields.append(.bytes(try tx.quantity("chainId"))) }
        fields.append(.bytes(try tx.quantity("nonce")))
        if type <= 1 {
            fields.append(.bytes(try tx.quantity("gasPrice")))
        } else {
            fields.append(.bytes(try tx.quantity("maxPriorityFeePerGas")))
            fields.append(.bytes(try tx.quantity("maxFeePerGas")))
        }
        fields.append(.bytes(try tx.quantity("gas")))
        fields.append(.bytes(try tx.optionalAddress("to")))
        fields.append(.bytes(try tx.quantity("value")))
        fields.append(.bytes(input))
        if type != 0 { fields.append(try accessList(tx)) }
        if type == 3 {
            fields.append(.bytes(try tx.quantity("maxFeePerBlobGas")))
            var hashes: [RLPItem] = []
            for (i, hash) in try tx.array("blobVersionedHashes").enumerated() {
                guard case .string(let string) = hash, let bytes = try? Hex.decode(string), bytes.count == 32 else {
                    throw .malformed("\(tx.name("blobVersionedHashes"))[\(i)]: expected 32 bytes of hex")
                }
                hashes.append(.bytes(bytes))
            }
            fields.append(.list(hashes))
        }
        if type == 4 {
            var authorizations: [RLPItem] = []
            for (i, entry) in try tx.array("authorizationList").enumerated() {
                let auth = try JSONFields(entry, path: "\(tx.name("authorizationList"))[\(i)]", what: "an authorization")
                authorizations.append(.list([
                    .bytes(try auth.quantity("chainId")), .bytes(try auth.data("address", count: 20)),
                    .bytes(try auth.quantity("nonce")), .bytes(try auth.quantity(auth.has("yParity") ? "yParity" : "v")),
                    .bytes(try auth.quantity("r")), .bytes(try auth.quantity("s")),
                ]))
            }
            fields.append(.list(authorizations))
        }
        if type == 0 {
            fields.append(.bytes(try tx.quantity("v")))
        } else {
            fields.append(.bytes(try tx.quantity(tx.has("yParity") ? "yParity" : "v")))
        }
        fields.append(.bytes(try tx.quantity("r")))
        fields.append(.bytes(try tx.quantity("s")))
        let body = RLP.encode(.list(fields))
        return type == 0 ? body : [UInt8(type)] + body
    }

    private static func accessList(_ tx: JSONFields) throws(VerificationError) -> RLPItem {
        guard tx.has("accessList") else { return .list([]) }
        var entries: [RLPItem] = []
        for (i, entry) in try tx.array("accessList").enumerated() {
            let fields = try JSONFields(entry, path: "\(tx.name("accessList"))[\(i)]", what: "an access list entry")
            var keys: [RLPItem] = []
            for (k, key) in try fields.array("storageKeys").enumerated() {
                guard case .string(let string) = key, let bytes = try? Hex.decode(string), bytes.count == 32 else {
                    throw .malformed("\(fields.name("storageKeys"))[\(k)]: expected 32 bytes of hex")
                }
                keys.append(.bytes(bytes))
            }
            entries.append(.list([.bytes(try fields.data("address", count: 20)), .list(keys)]))
        }
        return .list(entries)
    }
}

/// EIP-4895 withdrawals, to rebuild `withdrawalsRoot`.
public enum WithdrawalEncoding {
    public static func encode(json: JSONValue, path: String) throws(VerificationError) -> [UInt8] {
        let w = try JSONFields(json, path: path, what: "a withdrawal")
        return RLP.encode(.list([
            .bytes(try w.quantity("index")), .bytes(try w.quantity("validatorIndex")),
            .bytes(try w.data("address", count: 20)), .bytes(try w.quantity("amount")),
        ]))
    }
}
