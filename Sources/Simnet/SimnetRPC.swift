import BigInt
import EthereumKit

/// A JSON-RPC error as a node returns it.
struct RPCError: Error {
    var code: Int
    var message: String

    static func invalidParams(_ message: String) -> RPCError { RPCError(code: -32602, message: message) }
    static let headerNotFound = RPCError(code: -32000, message: "header not found")
}

/// How one face sees the chain: its own head (when lagging) and its lies.
struct FaceView: Sendable {
    var lagBlocks: Int = 0
    var lies = false
    var wrongChain = false
}

/// Answers JSON-RPC requests over a `SimulatedChain` with the JSON shapes geth uses.
///
/// `eth_call` has a fixed behaviour (there is no EVM): it returns the 32-byte value of
/// storage slot 0 of `to` when `to` has code, else `0x`. `eth_estimateGas` returns the
/// intrinsic gas of the call (21,000 plus calldata and access-list costs).
struct SimnetRPC: Sendable {
    let chain: SimulatedChain

    /// Handles one HTTP body: a single request or a batch. Nil means nothing to send back
    /// (a notification or a batch of notifications).
    func respond(to body: [UInt8], view: FaceView) -> String? {
        let request: JSONValue
        do { request = try JSONValue.parse(body) } catch {
            return Self.errorResponse(id: .null, RPCError(code: -32700, message: "parse error"))
        }
        if case .array(let calls) = request {
            guard !calls.isEmpty else {
                return Self.errorResponse(id: .null, RPCError(code: -32600, message: "empty batch"))
            }
            let answers = calls.compactMap { respond(toCall: $0, view: view) }
            return answers.isEmpty ? nil : "[" + answers.joined(separator: ",") + "]"
        }
        return respond(toCall: request, view: view)
    }

    private func respond(toCall call: JSONValue, view: FaceView) -> String? {
        guard case .object(let fields) = call, fields["jsonrpc"] == .string("2.0"), case .string(let method)? = fields["method"] else {
            return Self.errorResponse(id: call["id"] ?? .null, RPCError(code: -32600, message: "invalid request"))
        }
        let id = fields["id"]
        let params: [JSONValue]
        switch fields["params"] {
        case nil, .null?: params = []
        case .array(let list)?: params = list
        default:
            return Self.errorResponse(id: id ?? .null, RPCError(code: -32602, message: "non-array args"))
        }
        let outcome: Result<JSONValue, RPCError>
        do { outcome = .success(try dispatch(method, params, view: view)) } catch let error as RPCError {
            outcome = .failure(error)
        } catch {
            outcome = .failure(RPCError(code: -32603, message: "\(error)"))
        }
        guard let id else { return nil }  // a notification gets no answer
        switch outcome {
        case .success(let result):
            var out = #"{"jsonrpc":"2.0","id":"#
            id.write(to: &out)
            out += #","result":"#
            result.write(to: &out)
            out += "}"
            return out
        case .failure(let error):
            return Self.errorResponse(id: id, error)
        }
    }

    static func errorResponse(id: JSONValue, _ error: RPCError) -> String {
        JSONValue.object([
            "jsonrpc": .string("2.0"), "id": id,
            "error": .object(["code": .number(Double(error.code)), "message": .string(error.message)]),
        ]).serialized()
    }

    // MARK: Methods

    private func dispatch(_ method: String, _ params: [JSONValue], view: FaceView) throws -> JSONValue {
        let chainId = view.wrongChain ? chain.chainId + 1 : chain.chainId
        switch method {
        case "eth_chainId": return .quantity(chainId)
        case "net_version": return .string(String(chainId))
        case "net_listening": return .bool(true)
        case "net_peerCount": return .quantity(25)
        case "web3_clientVersion": return .string("bulwark-simnet/0.1.0")
        case "eth_syncing": return .bool(false)
        case "eth_accounts": return .array([])
        case "eth_blockNumber": return .quantity(chain.withState { head($0, view) })
        case "eth_gasPrice": return .quantity(bigEndian: (SimulatedChain.baseFee * 2).bigEndianBytes)
        case "eth_maxPriorityFeePerGas": return .quantity(bigEndian: SimulatedChain.baseFee.bigEndianBytes)
        case "eth_blobBaseFee": return .quantity(1)
        case "eth_getBlockByNumber", "eth_getBlockByHash":
            let full = params.count > 1 ? params[1] == .bool(true) : false
            return try chain.withState { state in
                guard let block = try block(state, params.first, view: view, byHash: method == "eth_getBlockByHash") else { return .null }
                return blockJSON(block, fullTransactions: full)
            }
        case "eth_getBlockTransactionCountByNumber", "eth_getBlockTransactionCountByHash":
            return try chain.withState { state in
                guard let block = try block(state, params.first, view: view, byHash: method.hasSuffix("ByHash")) else { return .null }
                return .quantity(UInt64(block.transactions.count))
            }
        case "eth_getBalance", "eth_getTransactionCount", "eth_getCode":
            let address = try addressParam(params, 0)
            return try chain.withState { state in
                let (_, world) = try stateAt(state, params.count > 1 ? params[1] : nil, view: view)
                let account = world[address]
                switch method {
                case "eth_getBalance":
                    return .quantity(bigEndian: (view.lies ? Self.lie(about: account.balance) : account.balance).bigEndianBytes)
                case "eth_getTransactionCount": return .quantity(account.nonce)
                default: return .data(account.code)
                }
            }
        case "eth_getStorageAt":
            let address = try addressParam(params, 0)
            let slot = try slotParam(params, 1)
            return try chain.withState { state in
                let (_, world) = try stateAt(state, params.count > 2 ? params[2] : nil, view: view)
                let value = world[address].storage[slot] ?? 0
                return .data([UInt8](repeating: 0, count: 32 - value.bigEndianBytes.count) + value.bigEndianBytes)
            }
        case "eth_getProof":
            let address = try addressParam(params, 0)
            guard params.count > 1, case .array(let keys) = params[1] else {
                throw RPCError.invalidParams("invalid argument 1: expected an array of storage keys")
            }
            let slots = try keys.indices.map { try slotParam(keys, $0) }
            return try chain.withState { state in
                let (_, world) = try stateAt(state, params.count > 2 ? params[2] : nil, view: view)
                return proofJSON(world, address: address, slots: slots, keys: keys, lie: view.lies)
            }
        case "eth_call":
            guard let call = params.first?.objectValue else { throw RPCError.invalidParams("invalid argument 0: expected a call object") }
            return try chain.withState { state in
                let (_, world) = try stateAt(state, params.count > 1 ? params[1] : nil, view: view)
                guard let to = call["to"]?.stringValue, let address = try? Hex.decode(to), address.count == 20,
                      !world[address].code.isEmpty else { return .data([UInt8]()) }
                let value = world[address].storage[SimulatedChain.slot(0)] ?? 0
                return .data([UInt8](repeating: 0, count: 32 - value.bigEndianBytes.count) + value.bigEndianBytes)
            }
        case "eth_estimateGas":
            guard let call = params.first?.objectValue else { throw RPCError.invalidParams("invalid argument 0: expected a call object") }
            var gas: UInt64 = call["to"] == nil || call["to"] == .null ? 53_000 : 21_000
            let input = (call["input"] ?? call["data"])?.stringValue.flatMap { try? Hex.decode($0) } ?? []
            for byte in input { gas += byte == 0 ? 4 : 16 }
            return .quantity(gas)
        case "eth_sendRawTransaction":
            guard let text = params.first?.stringValue, let raw = try? Hex.decode(text) else {
                throw RPCError.invalidParams("invalid argument 0: expected hex-encoded transaction bytes")
            }
            do { return .data(try chain.submit(raw: raw).bytes) } catch {
                throw RPCError(code: -32000, message: error.message)
            }
        case "eth_getTransactionByHash", "eth_getTransactionReceipt":
            let hash = try hashParam(params, 0)
            return chain.withState { state in
                guard let location = state.transactionLocation[hash], location.block <= head(state, view) else {
                    if method == "eth_getTransactionByHash", let pending = state.pool[hash] {
                        return transactionJSON(pending.transaction, sender: pending.sender, block: nil, index: nil)
                    }
                    return .null
                }
                let block = state.blocks[Int(location.block)]
                return method == "eth_getTransactionByHash"
                    ? transactionJSON(block.transactions[location.index].transaction, sender: block.transactions[location.index].sender, block: block, index: location.index)
                    : receiptJSON(block, index: location.index)
            }
        case "eth_getTransactionByBlockNumberAndIndex", "eth_getTransactionByBlockHashAndIndex":
            let index = try quantityParam(params, 1)
            return try chain.withState { state in
                guard let block = try block(state, params.first, view: view, byHash: method.contains("Hash")),
                      index < UInt64(block.transactions.count) else { return .null }
                let tx = block.transactions[Int(index)]
                return transactionJSON(tx.transaction, sender: tx.sender, block: block, index: Int(index))
            }
        case "eth_getBlockReceipts":
            return try chain.withState { state in
                let isHash = params.first?.stringValue?.count == 66
                guard let block = try block(state, params.first, view: view, byHash: isHash) else { return .null }
                return .array(block.transactions.indices.map { receiptJSON(block, index: $0) })
            }
        case "eth_getLogs":
            guard let filter = params.first?.objectValue else { throw RPCError.invalidParams("invalid argument 0: expected a filter object") }
            return try chain.withState { state in try logs(state, filter: filter, view: view) }
        case "eth_feeHistory":
            return try chain.withState { state in try feeHistory(state, params, view: view) }
        default:
            throw RPCError(code: -32601, message: "the method \(method) does not exist/is not available")
        }
    }

    /// What a lying face reports instead of `balance`: zero for a funded account, one ether for an empty one.
    static func lie(about balance: BigUInt) -> BigUInt {
        balance.isZero ? BigUInt(10).power(18) : 0
    }

    // MARK: Blocks and state

    private func head(_ state: borrowing SimulatedChain.State, _ view: FaceView) -> UInt64 {
        UInt64(max(0, state.blocks.count - 1 - view.lagBlocks))
    }

    /// Resolves a block tag, number or hash as this face sees the chain; nil when it does not have the block.
    private func blockNumber(_ state: borrowing SimulatedChain.State, _ param: JSONValue?, view: FaceView, byHash: Bool = false) throws -> UInt64? {
        let head = head(state, view)
        guard let param else { return head }
        if case .object(let object) = param {
            if let hash = object["blockHash"] { return try blockNumber(state, hash, view: view, byHash: true) }
            if let number = object["blockNumber"] { return try blockNumber(state, number, view: view) }
            throw RPCError.invalidParams("invalid argument: expected blockHash or blockNumber")
        }
        guard let text = param.stringValue else { throw RPCError.invalidParams("invalid argument: expected a block number, tag or hash") }
        switch text {
        case "latest", "pending": return head
        case "earliest": return 0
        case "finalized": return head >= UInt64(chain.finalityDepth) ? head - UInt64(chain.finalityDepth) : 0
        case "safe": return head >= UInt64(chain.finalityDepth / 2) ? head - UInt64(chain.finalityDepth / 2) : 0
        default: break
        }
        if byHash || text.count == 66 {
            guard let bytes = try? Hex.decode(text), let hash = Bytes32(bytes) else {
                throw RPCError.invalidParams("invalid argument: hex string of \(text.count - 2) digits, want 64 for a block hash")
            }
            guard let number = state.blockNumberByHash[hash], number <= head else { return nil }
            return number
        }
        guard let bytes = try? Hex.decodeQuantity(text), bytes.count <= 8 else {
            throw RPCError.invalidParams("invalid argument: '\(text)' is not a block number or tag")
        }
        let number = bytes.reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        return number <= head ? number : nil
    }

    private func block(_ state: borrowing SimulatedChain.State, _ param: JSONValue?, view: FaceView, byHash: Bool) throws -> SimBlock? {
        guard let param else { throw RPCError.invalidParams("missing value for required argument 0") }
        guard let number = try blockNumber(state, param, view: view, byHash: byHash) else { return nil }
        return state.blocks[Int(number)]
    }

    private func stateAt(_ state: borrowing SimulatedChain.State, _ param: JSONValue?, view: FaceView) throws -> (SimBlock, WorldState) {
        guard let number = try blockNumber(state, param, view: view) else { throw RPCError.headerNotFound }
        let block = state.blocks[Int(number)]
        guard let world = block.state else {
            throw RPCError(code: -32000, message: "historical state \(block.header.stateRoot) is not available")
        }
        return (block, world)
    }

    // MARK: Parameters

    private func addressParam(_ params: [JSONValue], _ index: Int) throws -> Address {
        guard index < params.count, let text = params[index].stringValue, let bytes = try? Hex.decode(text), bytes.count == 20 else {
            throw RPCError.invalidParams("invalid argument \(index): expected a 20-byte hex address")
        }
        return bytes
    }

    private func hashParam(_ params: [JSONValue], _ index: Int) throws -> Bytes32 {
        guard index < params.count, let text = params[index].stringValue, let bytes = try? Hex.decode(text), let hash = Bytes32(bytes) else {
            throw RPCError.invalidParams("invalid argument \(index): expected a 32-byte hex hash")
        }
        return hash
    }

    private func quantityParam(_ params: [JSONValue], _ index: Int) throws -> UInt64 {
        guard index < params.count, let number = params[index].quantityValue else {
            throw RPCError.invalidParams("invalid argument \(index): expected a hex quantity")
        }
        return number
    }

    /// A storage slot: any hex of up to 32 bytes, left-padded.
    private func slotParam(_ params: [JSONValue], _ index: Int) throws -> [UInt8] {
        guard index < params.count, let text = params[index].stringValue, let bytes = try? Hex.decodeQuantity(text), bytes.count <= 32 else {
            throw RPCError.invalidParams("invalid argument \(index): expected a storage slot of up to 32 bytes")
        }
        return [UInt8](repeating: 0, count: 32 - bytes.count) + bytes
    }

    // MARK: JSON shapes

    private func blockJSON(_ block: SimBlock, fullTransactions: Bool) -> JSONValue {
        let h = block.header
        return .object([
            "baseFeePerGas": .quantity(bigEndian: h.baseFeePerGas ?? []),
            "blobGasUsed": .quantity(bigEndian: h.blobGasUsed ?? []),
            "difficulty": .quantity(bigEndian: h.difficulty),
            "excessBlobGas": .quantity(bigEndian: h.excessBlobGas ?? []),
            "extraData": .data(h.extraData),
            "gasLimit": .quantity(bigEndian: h.gasLimit),
            "gasUsed": .quantity(bigEndian: h.gasUsed),
            "hash": .data(block.hash.bytes),
            "logsBloom": .data(h.logsBloom),
            "miner": .data(h.coinbase),
            "mixHash": .data(h.mixHash.bytes),
            "nonce": .data(h.nonce),
            "number": .quantity(bigEndian: h.number),
            "parentBeaconBlockRoot": .data(h.parentBeaconBlockRoot!.bytes),
            "parentHash": .data(h.parentHash.bytes),
            "receiptsRoot": .data(h.receiptsRoot.bytes),
            "requestsHash": .data(h.requestsHash!.bytes),
            "sha3Uncles": .data(h.ommersHash.bytes),
            "size": .quantity(UInt64(block.size)),
            "stateRoot": .data(h.stateRoot.bytes),
            "timestamp": .quantity(bigEndian: h.timestamp),
            "transactions": .array(block.transactions.enumerated().map { index, tx in
                fullTransactions
                    ? transactionJSON(tx.transaction, sender: tx.sender, block: block, index: index)
                    : .data(tx.transaction.hash.bytes)
            }),
            "transactionsRoot": .data(h.transactionsRoot.bytes),
            "uncles": .array([]),
            "withdrawals": .array([]),
            "withdrawalsRoot": .data(h.withdrawalsRoot!.bytes),
        ])
    }

    private func transactionJSON(_ tx: SignedTransaction, sender: Address, block: SimBlock?, index: Int?) -> JSONValue {
        let blockHash: JSONValue = block.map { JSONValue.data($0.hash.bytes) } ?? .null
        let blockNumber: JSONValue = block.map { JSONValue.quantity($0.number) } ?? .null
        let position: JSONValue = index.map { JSONValue.quantity(UInt64($0)) } ?? .null
        let to: JSONValue = tx.to.map { JSONValue.data($0) } ?? .null
        var fields: [String: JSONValue] = [
            "blockHash": blockHash,
            "blockNumber": blockNumber,
            "from": .data(sender),
            "gas": .quantity(tx.gas),
            "hash": .data(tx.hash.bytes),
            "input": .data(tx.input),
            "nonce": .quantity(tx.nonce),
            "to": to,
            "transactionIndex": position,
            "value": .quantity(bigEndian: tx.value),
            "type": .quantity(UInt64(tx.kind.rawValue)),
            "v": .quantity(bigEndian: tx.v),
            "r": .quantity(bigEndian: tx.r),
            "s": .quantity(bigEndian: tx.s),
        ]
        if let block { fields["blockTimestamp"] = .quantity(block.timestamp) }
        if tx.kind == .dynamicFee {
            let price = block != nil
                ? min(BigUInt(bigEndian: tx.maxFeePerGas), SimulatedChain.baseFee + BigUInt(bigEndian: tx.maxPriorityFeePerGas))
                : BigUInt(bigEndian: tx.maxFeePerGas)
            fields["gasPrice"] = .quantity(bigEndian: price.bigEndianBytes)
            fields["maxFeePerGas"] = .quantity(bigEndian: tx.maxFeePerGas)
            fields["maxPriorityFeePerGas"] = .quantity(bigEndian: tx.maxPriorityFeePerGas)
        } else {
            fields["gasPrice"] = .quantity(bigEndian: tx.gasPrice)
        }
        if tx.kind != .legacy {
            fields["chainId"] = .quantity(tx.chainId ?? 0)
            fields["yParity"] = .quantity(bigEndian: tx.v)
            fields["accessList"] = .array(tx.accessList.map { entry -> JSONValue in
                let keys: [JSONValue] = entry.storageKeys.map { JSONValue.data($0) }
                return .object(["address": .data(entry.address), "storageKeys": .array(keys)])
            })
        } else if let id = tx.chainId {
            fields["chainId"] = .quantity(id)
        }
        return .object(fields)
    }

    private func logJSON(_ log: SimLog, block: SimBlock, transactionIndex: Int, logIndex: Int) -> JSONValue {
        .object([
            "address": .data(log.address),
            "topics": .array(log.topics.map { .data($0.bytes) }),
            "data": .data(log.data),
            "blockNumber": .quantity(block.number),
            "transactionHash": .data(block.transactions[transactionIndex].transaction.hash.bytes),
            "transactionIndex": .quantity(UInt64(transactionIndex)),
            "blockHash": .data(block.hash.bytes),
            "blockTimestamp": .quantity(block.timestamp),
            "logIndex": .quantity(UInt64(logIndex)),
            "removed": .bool(false),
        ])
    }

    private func receiptJSON(_ block: SimBlock, index: Int) -> JSONValue {
        let tx = block.transactions[index]
        let contractAddress: JSONValue = tx.contractAddress.map { JSONValue.data($0) } ?? .null
        let to: JSONValue = tx.transaction.to.map { JSONValue.data($0) } ?? .null
        let logs: [JSONValue] = tx.logs.enumerated().map { offset, log in
            logJSON(log, block: block, transactionIndex: index, logIndex: tx.firstLogIndex + offset)
        }
        return .object([
            "blockHash": .data(block.hash.bytes),
            "blockNumber": .quantity(block.number),
            "contractAddress": contractAddress,
            "cumulativeGasUsed": .quantity(tx.cumulativeGasUsed),
            "effectiveGasPrice": .quantity(bigEndian: tx.effectiveGasPrice.bigEndianBytes),
            "from": .data(tx.sender),
            "gasUsed": .quantity(tx.gasUsed),
            "logs": .array(logs),
            "logsBloom": .data(tx.bloom),
            "status": .quantity(1),
            "to": to,
            "transactionHash": .data(tx.transaction.hash.bytes),
            "transactionIndex": .quantity(UInt64(index)),
            "type": .quantity(UInt64(tx.transaction.kind.rawValue)),
        ])
    }

    private func proofJSON(_ world: WorldState, address: Address, slots: [[UInt8]], keys: [JSONValue], lie: Bool) -> JSONValue {
        var account = world[address]
        let entries = world.trieEntries
        let key = Keccak256.hash(address).bytes
        var accountProof = MerklePatriciaTrie.proof(forKey: key, in: entries)
        if lie {
            // Forge the leaf to hold the lie; its hash no longer matches its parent's reference.
            account.balance = Self.lie(about: account.balance)
            if !account.isEmpty, !accountProof.isEmpty {
                var forged = world
                forged[address] = account
                accountProof[accountProof.count - 1] = MerklePatriciaTrie.proof(forKey: key, in: forged.trieEntries).last!
            }
        }
        let storageEntries = account.storageEntries
        let exists = !world[address].isEmpty
        return .object([
            "address": .data(address),
            "accountProof": .array(accountProof.map { .data($0) }),
            "balance": .quantity(bigEndian: account.balance.bigEndianBytes),
            "codeHash": .data(account.codeHash.bytes),
            "nonce": .quantity(account.nonce),
            "storageHash": .data((exists ? account.storageRoot : .emptyTrieRoot).bytes),
            "storageProof": .array(zip(slots, keys).map { slot, key in
                let value = account.storage[slot] ?? 0
                return .object([
                    "key": key,
                    "value": .quantity(bigEndian: value.bigEndianBytes),
                    "proof": .array(MerklePatriciaTrie.proof(forKey: Keccak256.hash(slot).bytes, in: storageEntries).map { .data($0) }),
                ])
            }),
        ])
    }

    // MARK: Logs and fees

    private func logs(_ state: borrowing SimulatedChain.State, filter: [String: JSONValue], view: FaceView) throws -> JSONValue {
        let range: ClosedRange<UInt64>
        if let hash = filter["blockHash"] {
            guard filter["fromBlock"] == nil && filter["toBlock"] == nil else {
                throw RPCError.invalidParams("invalid argument 0: cannot specify both BlockHash and FromBlock/ToBlock, choose one or the other")
            }
            guard let number = try blockNumber(state, hash, view: view, byHash: true) else {
                throw RPCError(code: -32000, message: "unknown block")
            }
            range = number...number
        } else {
            let head = head(state, view)
            let from = try filter["fromBlock"].map { try blockNumber(state, $0, view: view) ?? UInt64.max } ?? head
            let to = try filter["toBlock"].map { try blockNumber(state, $0, view: view) ?? UInt64.max } ?? head
            guard from != .max, to != .max else {
                throw RPCError.invalidParams("block range extends beyond current head block")
            }
            guard from <= to else { throw RPCError.invalidParams("invalid block range params") }
            guard to - from < 10_000 else { throw RPCError(code: -32005, message: "query exceeds max block range 10000") }
            range = from...to
        }
        var addresses: Set<Address>? = nil
        switch filter["address"] {
        case .string(let text)?:
            guard let bytes = try? Hex.decode(text), bytes.count == 20 else { throw RPCError.invalidParams("invalid argument 0: bad address") }
            addresses = [bytes]
        case .array(let list)?:
            addresses = Set(try list.map { item -> Address in
                guard let text = item.stringValue, let bytes = try? Hex.decode(text), bytes.count == 20 else {
                    throw RPCError.invalidParams("invalid argument 0: bad address")
                }
                return bytes
            })
        default: break
        }
        var topicFilters: [Set<Bytes32>?] = []
        if case .array(let positions)? = filter["topics"] {
            for position in positions {
                switch position {
                case .null: topicFilters.append(nil)
                case .string(let text):
                    guard let hash = (try? Hex.decode(text)).flatMap(Bytes32.init) else { throw RPCError.invalidParams("invalid argument 0: bad topic") }
                    topicFilters.append([hash])
                case .array(let alternatives):
                    let set = Set(try alternatives.map { item -> Bytes32 in
                        guard let text = item.stringValue, let hash = (try? Hex.decode(text)).flatMap(Bytes32.init) else {
                            throw RPCError.invalidParams("invalid argument 0: bad topic")
                        }
                        return hash
                    })
                    topicFilters.append(set.isEmpty ? nil : set)
                default: throw RPCError.invalidParams("invalid argument 0: bad topic")
                }
            }
        }
        var results: [JSONValue] = []
        for number in range {
            let block = state.blocks[Int(number)]
            for (index, tx) in block.transactions.enumerated() {
                for (offset, log) in tx.logs.enumerated() {
                    if let addresses, !addresses.contains(log.address) { continue }
                    guard topicFilters.count <= log.topics.count else { continue }
                    let matches = topicFilters.enumerated().allSatisfy { position, allowed in
                        allowed.map { $0.contains(log.topics[position]) } ?? true
                    }
                    if matches {
                        results.append(logJSON(log, block: block, transactionIndex: index, logIndex: tx.firstLogIndex + offset))
                    }
                }
            }
        }
        return .array(results)
    }

    private func feeHistory(_ state: borrowing SimulatedChain.State, _ params: [JSONValue], view: FaceView) throws -> JSONValue {
        let requested: UInt64
        if case .number(let n)? = params.first { requested = UInt64(max(0, n)) } else { requested = try quantityParam(params, 0) }
        guard let newest = try blockNumber(state, params.count > 1 ? params[1] : nil, view: view) else {
            throw RPCError.headerNotFound
        }
        let count = min(requested, newest + 1, 1024)
        guard count > 0 else { return .object(["oldestBlock": .quantity(0)]) }
        let oldest = newest + 1 - count
        let percentiles = params.count > 2 ? (params[2].arrayValue ?? []) : []
        var baseFees: [JSONValue] = []
        var ratios: [JSONValue] = []
        var rewards: [JSONValue] = []
        for number in oldest...newest {
            let block = state.blocks[Int(number)]
            baseFees.append(.quantity(bigEndian: block.header.baseFeePerGas ?? []))
            let used = Double(block.header.gasUsed.reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
            ratios.append(.number(used / Double(SimulatedChain.gasLimit)))
            let tips = block.transactions.map { $0.effectiveGasPrice - SimulatedChain.baseFee }.sorted()
            rewards.append(.array(percentiles.map { p in
                guard !tips.isEmpty, case .number(let value) = p else { return .quantity(0) }
                let index = min(tips.count - 1, Int((value / 100 * Double(tips.count)).rounded(.down)))
                return .quantity(bigEndian: tips[index].bigEndianBytes)
            }))
        }
        baseFees.append(.quantity(bigEndian: SimulatedChain.baseFee.bigEndianBytes))
        var result: [String: JSONValue] = [
            "oldestBlock": .quantity(oldest),
            "baseFeePerGas": .array(baseFees),
            "gasUsedRatio": .array(ratios),
            "baseFeePerBlobGas": .array(Array(repeating: .quantity(1), count: Int(count) + 1)),
            "blobGasUsedRatio": .array(Array(repeating: .number(0), count: Int(count))),
        ]
        if !percentiles.isEmpty { result["reward"] = .array(rewards) }
        return .object(result)
    }
}
