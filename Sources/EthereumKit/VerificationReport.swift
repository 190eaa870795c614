/// What a verification established: the checks that passed, and the ones that
/// could not be made with the data given (and why). Failures are thrown as
/// `VerificationError` instead.
public struct VerificationReport: Sendable, Equatable {
    public struct Check: Sendable, Equatable {
        /// What was checked, e.g. `block hash`, `transactionsRoot`.
        public let name: String
        /// What was found, or why it could not be checked.
        public let detail: String
        /// False when the check was skipped for lack of data.
        public let performed: Bool

        public init(name: String, detail: String, performed: Bool) {
            self.name = name
            self.detail = detail
            self.performed = performed
        }
    }

    public var checks: [Check] = []

    mutating func passed(_ name: String, _ detail: String) {
        checks.append(Check(name: name, detail: detail, performed: true))
    }

    mutating func skipped(_ name: String, _ reason: String) {
        checks.append(Check(name: name, detail: reason, performed: false))
    }
}

/// Checks a block as `eth_getBlockByNumber` / `eth_getBlockByHash` return it.
public enum BlockVerifier {
    /// Recomputes `keccak256(rlp(header))` and compares it with `hash`; rebuilds
    /// `transactionsRoot` when full transaction objects are given (checking each
    /// transaction's `hash`), `withdrawalsRoot` when withdrawals are given, and
    /// checks `sha3Uncles` of a block without ommers.
    @discardableResult
    public static func verify(block json: JSONValue) throws(VerificationError) -> VerificationReport {
        let header = try BlockHeader(json: json)
        let fields = try JSONFields(json, what: "a block")
        guard fields.has("hash") else {
            throw .malformed("field 'hash' is missing or null (a pending block has no hash to verify)")
        }
        let claimed = try fields.hash("hash")
        let computed = header.hash
        let label = "block \(header.blockNumber)"
        guard computed == claimed else {
            throw .mismatch("\(label): keccak256(rlp(header)) is \(computed) but the block says hash \(claimed); a header field is wrong (layout: \(header.layout))")
        }
        var report = VerificationReport()
        report.passed("block hash", "\(label) hashes to \(claimed) (\(header.layout) header)")

        try checkTransactions(fields, header: header, label: label, into: &report)

        if fields.has("withdrawals") {
            if let root = header.withdrawalsRoot {
                var encoded: [[UInt8]] = []
                for (i, item) in try fields.array("withdrawals").enumerated() {
                    encoded.append(try WithdrawalEncoding.encode(json: item, path: "withdrawals[\(i)]"))
                }
                let rebuilt = MerklePatriciaTrie.indexedRoot(encoded)
                guard rebuilt == root else {
                    throw .mismatch("\(label): \(encoded.count) withdrawals rebuild withdrawalsRoot \(rebuilt) but the header says \(root)")
                }
                report.passed("withdrawalsRoot", "\(encoded.count) withdrawal(s) rebuild \(root)")
            } else {
                throw .malformed("the block lists withdrawals but its header has no withdrawalsRoot")
            }
        }

        if fields.has("uncles") {
            let uncles = try fields.array("uncles")
            if uncles.isEmpty {
                guard header.ommersHash == .emptyListHash else {
                    throw .mismatch("\(label): the block has no uncles but sha3Uncles is \(header.ommersHash), not the empty-list hash")
                }
                report.passed("sha3Uncles", "no uncles, empty-list hash")
            } else {
                report.skipped("sha3Uncles", "\(uncles.count) uncle(s) listed by hash only")
            }
        }
        return report
    }

    private static func checkTransactions(
        _ fields: JSONFields, header: BlockHeader, label: String, into report: inout VerificationReport
    ) throws(VerificationError) {
        guard fields.has("transactions") else {
            report.skipped("transactionsRoot", "the block has no 'transactions' field")
            return
        }
        let transactions = try fields.array("transactions")
        if transactions.isEmpty {
            guard header.transactionsRoot == .emptyTrieRoot else {
                throw .mismatch("\(label): the block lists no transactions but transactionsRoot is \(header.transactionsRoot), not the empty-trie root")
            }
            report.passed("transactionsRoot", "no transactions, empty-trie root")
            return
        }
        if transactions.allSatisfy({ if case .string = $0 { true } else { false } }) {
            report.skipped("transactionsRoot", "the block lists \(transactions.count) transaction hash(es) only; request it with full transactions to check the root")
            return
        }
        var encoded: [[UInt8]] = []
        for (i, item) in transactions.enumerated() {
            let path = "transactions[\(i)]"
            let tx = try JSONFields(item, path: path, what: "a transaction object")
            if tx.has("type") {
                let type = try tx.uint64("type")
                guard TransactionEncoding.knownTypes.contains(type) else {
                    report.skipped("transactionsRoot", "\(path) has type 0x\(String(type, radix: 16)), which this version cannot encode")
                    return
                }
            }
            let bytes = try TransactionEncoding.encode(json: item, path: path)
            if tx.has("hash") {
                let claimed = try tx.hash("hash")
                let computed = Keccak256.hash(bytes)
                guard computed == claimed else {
                    throw .mismatch("\(path): its fields hash to \(computed) but it says hash \(claimed)")
                }
            }
            if tx.has("transactionIndex") {
                let index = try tx.uint64("transactionIndex")
                guard index == UInt64(i) else {
                    throw .mismatch("\(path): transactionIndex is \(index), expected \(i)")
                }
            }
            encoded.append(bytes)
        }
        let rebuilt = MerklePatriciaTrie.indexedRoot(encoded)
        guard rebuilt == header.transactionsRoot else {
            throw .mismatch("\(label): \(encoded.count) transactions rebuild transactionsRoot \(rebuilt) but the header says \(header.transactionsRoot)")
        }
        report.passed("transactionsRoot", "\(encoded.count) transaction(s) rebuild \(header.transactionsRoot)")
    }
}

/// Checks the receipts of one block (as `eth_getBlockReceipts` returns them) against its `receiptsRoot`.
public enum ReceiptsVerifier {
    @discardableResult
    public static func verify(receipts json: JSONValue, receiptsRoot: Bytes32) throws(VerificationError) -> VerificationReport {
        guard case .array(let receipts) = json else {
            throw .malformed("input: expected an array of receipts, got \(json.typeName)")
        }
        var encoded: [[UInt8]] = []
        var blockHash: Bytes32?
        for (i, item) in receipts.enumerated() {
            let path = "[\(i)]"
            let receipt = try JSONFields(item, path: path, what: "a receipt")
            if receipt.has("transactionIndex") {
                let index = try receipt.uint64("transactionIndex")
                guard index == UInt64(i) else {
                    throw .malformed("\(path): transactionIndex is \(index); receipts must be given in block order, complete")
                }
            }
            if receipt.has("blockHash") {
                let hash = try receipt.hash("blockHash")
                if let blockHash, blockHash != hash {
                    throw .malformed("\(path): blockHash \(hash) differs from the first receipt's \(blockHash); give the receipts of one block")
                }
                blockHash = hash
            }
            encoded.append(try ReceiptEncoding.encode(json: item, path: path))
        }
        let rebuilt = MerklePatriciaTrie.indexedRoot(encoded)
        guard rebuilt == receiptsRoot else {
            throw .mismatch("\(encoded.count) receipt(s) rebuild receiptsRoot \(rebuilt), expected \(receiptsRoot)")
        }
        var report = VerificationReport()
        report.passed("receiptsRoot", "\(encoded.count) receipt(s) rebuild \(receiptsRoot)")
        return report
    }
}
