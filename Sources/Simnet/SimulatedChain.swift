import BigInt
import EthereumKit
import Synchronization

/// A log emitted by a simulated contract call.
struct SimLog: Sendable {
    var address: Address
    var topics: [Bytes32]
    var data: [UInt8]
}

/// A transaction as included in a block, with what executing it produced.
struct IncludedTransaction: Sendable {
    var transaction: SignedTransaction
    var sender: Address
    var gasUsed: UInt64
    var cumulativeGasUsed: UInt64
    var effectiveGasPrice: BigUInt
    var contractAddress: Address?
    var logs: [SimLog]
    /// Index of this transaction's first log in the block.
    var firstLogIndex: Int

    var bloom: [UInt8] {
        var bloom = LogsBloom()
        for log in logs {
            bloom.insert(log.address)
            for topic in log.topics { bloom.insert(topic.bytes) }
        }
        return bloom.bytes
    }

    /// Consensus encoding of the receipt (status is always success here).
    var encodedReceipt: [UInt8] {
        let logItems: [RLPItem] = logs.map { .list([.bytes($0.address), .list($0.topics.map { .bytes($0.bytes) }), .bytes($0.data)]) }
        let body = RLP.encode(.list([.uint(1), .uint(cumulativeGasUsed), .bytes(bloom), .list(logItems)]))
        let type = transaction.kind.rawValue
        return type == 0 ? body : [type] + body
    }
}

/// One block of the simulated chain, with the state after it.
struct SimBlock: Sendable {
    var header: BlockHeader
    var hash: Bytes32
    var transactions: [IncludedTransaction]
    /// Nil once the block is older than the configured state history.
    var state: WorldState?
    /// Length of rlp([header, transactions, uncles, withdrawals]).
    var size: Int

    var number: UInt64 { header.blockNumber }
    var timestamp: UInt64 { header.timestamp.reduce(0) { $0 << 8 | UInt64($1) } }
}

/// What `SimulatedChain.reorg(depth:timestamp:)` did: the blocks it abandoned and the
/// longer branch that replaced them, by block number.
public struct Reorg: Equatable, Sendable {
    /// The last block both branches share: the head minus the depth, before the reorg.
    public let ancestor: UInt64
    /// Hashes of the abandoned blocks, `ancestor + 1` through the old head.
    public let abandoned: [UInt64: Bytes32]
    /// Hashes of the new branch, `ancestor + 1` through the new head (the old head + 1).
    public let adopted: [UInt64: Bytes32]

    public var depth: Int { abandoned.count }
    public var head: UInt64 { ancestor + UInt64(adopted.count) }
}

/// Why the simulated chain refused a reorg, in one line.
public struct ReorgRefusal: Error, Equatable, Sendable, CustomStringConvertible {
    public let message: String
    init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Why the simulated chain refused a transaction, in geth's words.
public struct TransactionRejection: Error, Equatable, Sendable {
    public let message: String
}

/// The simulated chain: blocks with real hashes and roots over a real state trie,
/// a transaction pool, blocks produced on demand, and reorgs on demand. Thread-safe; every face shares one.
public final class SimulatedChain: Sendable {
    /// Base fee of every block: fixed, so clients can price transactions simply.
    static let baseFee = BigUInt(1_000_000_000)
    static let gasLimit: UInt64 = 30_000_000
    static let extraData = Array("bulwark-simnet".utf8)
    /// sha256 of nothing: the Prague `requestsHash` of a block without execution-layer requests.
    static let emptyRequestsHash = Bytes32(try! Hex.decode("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"))!
    /// The one contract in genesis: a counter whose slot 0 counts calls; slot 1 holds 42.
    public static let counterContract: [UInt8] = try! Hex.decode("0x000000000000000000000000000000000000c0de")
    static let counterCode: [UInt8] = try! Hex.decode("0x600160005401600055")
    /// Topic 0 of the log every contract call emits.
    public static let calledTopic = Keccak256.hash(Array("Called(address,bytes)".utf8))

    struct PendingTransaction: Sendable {
        var transaction: SignedTransaction
        var sender: Address
        var arrival: Int
    }

    struct State: Sendable {
        var blocks: [SimBlock] = []
        var blockNumberByHash: [Bytes32: UInt64] = [:]
        var transactionLocation: [Bytes32: (block: UInt64, index: Int)] = [:]
        var pool: [Bytes32: PendingTransaction] = [:]
        var arrivals = 0
        /// Reorgs so far; numbers each new branch's `extraData`, so no two branches share a hash.
        var reorgs = 0
    }

    public let chainId: UInt64
    public let finalityDepth: Int
    let stateHistory: Int
    /// Development accounts: private key and address.
    public let accounts: [(privateKey: [UInt8], address: [UInt8])]
    private let state: Mutex<State>

    public init(configuration: SimnetConfiguration, genesisTimestamp: UInt64) {
        chainId = configuration.chainId
        finalityDepth = configuration.finalityDepth
        stateHistory = configuration.stateHistory
        accounts = (0..<configuration.accountCount).map { i in
            let key = Keccak256.hash(Array("bulwark simnet development account \(i)".utf8)).bytes
            return (key, Secp256k1.address(publicKey: try! Secp256k1.publicKey(privateKey: key)))
        }
        var genesisState = WorldState()
        for account in accounts {
            genesisState[account.address] = Account(balance: configuration.accountBalance)
        }
        genesisState[Self.counterContract] = Account(
            nonce: 1, code: Self.counterCode,
            storage: [Self.slot(0): 1, Self.slot(1): 42]
        )
        var initial = State()
        let genesis = Self.seal(number: 0, parentHash: .zero, timestamp: genesisTimestamp, transactions: [], state: genesisState)
        initial.blocks.append(genesis)
        initial.blockNumberByHash[genesis.hash] = 0
        state = Mutex(initial)
    }

    static func slot(_ index: UInt8) -> [UInt8] { [UInt8](repeating: 0, count: 31) + [index] }

    // MARK: Reading

    public var headNumber: UInt64 { state.withLock { UInt64($0.blocks.count - 1) } }

    // MARK: Ground truth (for tests and the chaos matrix, bypassing every face)

    /// Hash of block `number`, nil beyond the head.
    public func blockHash(_ number: UInt64) -> Bytes32? {
        state.withLock { number < UInt64($0.blocks.count) ? $0.blocks[Int(number)].hash : nil }
    }

    /// State root after block `number`.
    public func stateRoot(_ number: UInt64) -> Bytes32? {
        state.withLock { number < UInt64($0.blocks.count) ? $0.blocks[Int(number)].header.stateRoot : nil }
    }

    /// Balance of `address` after block `number`, as minimal big-endian bytes.
    public func balance(of address: [UInt8], atBlock number: UInt64) -> [UInt8]? {
        state.withLock { number < UInt64($0.blocks.count) ? $0.blocks[Int(number)].state?[address].balance.bigEndianBytes : nil }
    }

    /// The block that included transaction `hash`, nil while pooled or unknown.
    public func blockNumber(ofTransaction hash: Bytes32) -> UInt64? {
        state.withLock { $0.transactionLocation[hash]?.block }
    }

    func withState<T>(_ body: (borrowing State) throws -> T) rethrows -> T {
        try state.withLock { try body($0) }
    }

    // MARK: Transactions

    /// Validates and pools a raw signed transaction; returns its hash. Errors carry geth's messages.
    public func submit(raw: [UInt8]) throws(TransactionRejection) -> Bytes32 {
        let transaction: SignedTransaction
        do { transaction = try SignedTransaction(raw: raw) } catch {
            throw TransactionRejection(message: "rlp: \(error.message)")
        }
        if let txChainId = transaction.chainId, txChainId != chainId {
            throw TransactionRejection(message: "invalid sender: invalid chain id for signer: have \(txChainId) want \(chainId)")
        }
        if transaction.chainId == nil {
            throw TransactionRejection(message: "only replay-protected (EIP-155) transactions allowed over RPC")
        }
        let sender: Address
        do { sender = try transaction.sender() } catch {
            throw TransactionRejection(message: "invalid sender")
        }
        let intrinsic = Self.intrinsicGas(transaction)
        guard transaction.gas >= intrinsic else {
            throw TransactionRejection(message: "intrinsic gas too low: gas \(transaction.gas), minimum needed \(intrinsic)")
        }
        guard transaction.gas <= Self.gasLimit else {
            throw TransactionRejection(message: "exceeds block gas limit")
        }
        let maxFee = BigUInt(bigEndian: transaction.maxFeePerGas)
        guard maxFee >= Self.baseFee else {
            throw TransactionRejection(message: "transaction underpriced: fee cap \(maxFee) below base fee \(Self.baseFee)")
        }
        let hash = transaction.hash
        return try state.withLock { (state: inout State) throws(TransactionRejection) -> Bytes32 in
            if state.pool[hash] != nil || state.transactionLocation[hash] != nil {
                throw TransactionRejection(message: "already known")
            }
            let account = state.blocks[state.blocks.count - 1].state![sender]
            if transaction.nonce < account.nonce {
                throw TransactionRejection(message: "nonce too low: address \(Hex.encode(sender)), tx: \(transaction.nonce) state: \(account.nonce)")
            }
            if state.pool.values.contains(where: { $0.sender == sender && $0.transaction.nonce == transaction.nonce }) {
                throw TransactionRejection(message: "replacement transaction underpriced")
            }
            let cost = BigUInt(transaction.gas) * maxFee + BigUInt(bigEndian: transaction.value)
            guard account.balance >= cost else {
                throw TransactionRejection(message: "insufficient funds for gas * price + value: address \(Hex.encode(sender)) have \(account.balance) want \(cost)")
            }
            state.arrivals += 1
            state.pool[hash] = PendingTransaction(transaction: transaction, sender: sender, arrival: state.arrivals)
            return hash
        }
    }

    static func intrinsicGas(_ transaction: SignedTransaction) -> UInt64 {
        var gas: UInt64 = transaction.to == nil ? 53_000 : 21_000
        for byte in transaction.input { gas += byte == 0 ? 4 : 16 }
        for entry in transaction.accessList { gas += 2_400 + 1_900 * UInt64(entry.storageKeys.count) }
        return gas
    }

    // MARK: Producing blocks

    /// Seals the next block with every pooled transaction that can run now, and returns its number.
    @discardableResult
    public func produceBlock(timestamp: UInt64) -> UInt64 {
        state.withLock { state in
            Self.appendBlock(to: &state, timestamp: timestamp, extraData: Self.extraData, stateHistory: stateHistory)
        }
    }

    /// Replaces the last `depth` blocks with a new branch of `depth + 1` blocks built on block
    /// `head − depth`, as a node does when it sees a longer chain. The abandoned blocks'
    /// transactions go back to the pool in their original order and are mined in the new
    /// branch (all in its first block, gas permitting), so receipts, logs, balances and nonces
    /// follow the new branch. The new blocks differ from the abandoned ones by their `extraData`.
    ///
    /// Abandoned blocks are forgotten entirely: by number the new branch answers, and by hash
    /// an abandoned block is unknown (geth would still serve it as a side-chain block).
    ///
    /// Refused when `depth` is below 1 or beyond `finalityDepth` (finalized blocks never change),
    /// when the chain is not `depth` blocks long, or when the state of block `head − depth`
    /// has been pruned (`stateHistory`).
    public func reorg(depth: Int, timestamp: UInt64) throws(ReorgRefusal) -> Reorg {
        try state.withLock { (state: inout State) throws(ReorgRefusal) -> Reorg in
            guard depth >= 1 else { throw ReorgRefusal("depth must be at least 1, got \(depth)") }
            guard depth <= finalityDepth else {
                throw ReorgRefusal("depth \(depth) is beyond the finality depth (\(finalityDepth)): finalized blocks never change")
            }
            let head = state.blocks.count - 1
            guard head >= depth else {
                throw ReorgRefusal("the chain has \(head) blocks after genesis, fewer than the depth \(depth)")
            }
            let ancestor = head - depth
            guard state.blocks[ancestor].state != nil else {
                throw ReorgRefusal("the state of block \(ancestor) is pruned (stateHistory \(stateHistory)); cannot build a branch on it")
            }
            let abandonedBlocks = Array(state.blocks.suffix(depth))
            state.blocks.removeLast(depth)
            var abandoned: [UInt64: Bytes32] = [:]
            var returned: [IncludedTransaction] = []
            for block in abandonedBlocks {
                abandoned[block.number] = block.hash
                state.blockNumberByHash[block.hash] = nil
                for tx in block.transactions {
                    state.transactionLocation[tx.transaction.hash] = nil
                    returned.append(tx)
                }
            }
            // Back to the pool ahead of what is pooled now: they arrived first.
            let firstArrival = (state.pool.values.map(\.arrival).min() ?? state.arrivals + 1) - returned.count
            for (offset, tx) in returned.enumerated() {
                state.pool[tx.transaction.hash] = PendingTransaction(transaction: tx.transaction, sender: tx.sender, arrival: firstArrival + offset)
            }
            state.reorgs += 1
            let extraData = Self.extraData + Array(" reorg \(state.reorgs)".utf8)
            var adopted: [UInt64: Bytes32] = [:]
            for _ in 0...depth {
                let number = Self.appendBlock(to: &state, timestamp: timestamp, extraData: extraData, stateHistory: stateHistory)
                adopted[number] = state.blocks[Int(number)].hash
            }
            return Reorg(ancestor: UInt64(ancestor), abandoned: abandoned, adopted: adopted)
        }
    }

    /// Seals a block on the current head with every pooled transaction that can run now.
    private static func appendBlock(to state: inout State, timestamp: UInt64, extraData: [UInt8], stateHistory: Int) -> UInt64 {
        let parent = state.blocks[state.blocks.count - 1]
        var world = parent.state!
        var included: [IncludedTransaction] = []
        var gasUsed: UInt64 = 0
        var logCount = 0
        // Pooled transactions in arrival order, each sender's in nonce order.
        var remaining = state.pool.values.sorted { $0.arrival < $1.arrival }
        var progressed = true
        while progressed {
            progressed = false
            for (i, pending) in remaining.enumerated() {
                let tx = pending.transaction
                guard world[pending.sender].nonce == tx.nonce, gasUsed + tx.gas <= gasLimit else { continue }
                guard let executed = execute(tx, sender: pending.sender, in: &world, cumulativeGas: gasUsed, firstLogIndex: logCount) else {
                    continue
                }
                gasUsed = executed.cumulativeGasUsed
                logCount += executed.logs.count
                included.append(executed)
                state.pool[tx.hash] = nil
                remaining.remove(at: i)
                progressed = true
                break
            }
        }
        // Drop pooled transactions that can never run (nonce already used).
        for pending in state.pool.values where pending.transaction.nonce < world[pending.sender].nonce {
            state.pool[pending.transaction.hash] = nil
        }
        let number = parent.number + 1
        var block = seal(number: number, parentHash: parent.hash, timestamp: max(timestamp, parent.timestamp + 1),
                         transactions: included, state: world, extraData: extraData)
        block.header.gasUsed = RLPItem.uint(gasUsed).byteString!
        block.hash = block.header.hash
        state.blocks.append(block)
        state.blockNumberByHash[block.hash] = number
        for (index, tx) in included.enumerated() {
            state.transactionLocation[tx.transaction.hash] = (number, index)
        }
        let pruned = Int(number) - stateHistory
        if pruned >= 0 { state.blocks[pruned].state = nil }
        return number
    }

    /// Applies `tx` to `world`; nil when the sender can no longer pay for it.
    static func execute(
        _ tx: SignedTransaction, sender: Address, in world: inout WorldState, cumulativeGas: UInt64, firstLogIndex: Int
    ) -> IncludedTransaction? {
        let gasUsed = intrinsicGas(tx)
        let maxFee = BigUInt(bigEndian: tx.maxFeePerGas)
        let tip = BigUInt(bigEndian: tx.maxPriorityFeePerGas)
        let price = tx.kind == .dynamicFee ? min(maxFee, baseFee + tip) : BigUInt(bigEndian: tx.gasPrice)
        let value = BigUInt(bigEndian: tx.value)
        let cost = BigUInt(gasUsed) * price + value
        guard world[sender].balance >= cost, price >= baseFee else { return nil }
        world[sender].balance -= cost
        world[sender].nonce += 1
        world[[UInt8](repeating: 0, count: 20)].balance += BigUInt(gasUsed) * (price - baseFee)
        var logs: [SimLog] = []
        var created: Address?
        if let to = tx.to {
            world[to].balance += value
            if !world[to].code.isEmpty {
                // Contract call: count it in slot 0 and emit Called(sender, input).
                let counter = slot(0)
                world[to].storage[counter, default: 0] += 1
                logs.append(SimLog(address: to, topics: [calledTopic, Bytes32([UInt8](repeating: 0, count: 12) + sender)!], data: tx.input))
            }
        } else {
            // Contract creation without an EVM: the input becomes the new account's code.
            let address = Array(Keccak256.hash(RLP.encode(.list([.bytes(sender), .uint(tx.nonce)]))).bytes.suffix(20))
            world[address].balance += value
            world[address].nonce = 1
            world[address].code = tx.input
            created = address
        }
        return IncludedTransaction(
            transaction: tx, sender: sender, gasUsed: gasUsed, cumulativeGasUsed: cumulativeGas + gasUsed,
            effectiveGasPrice: price, contractAddress: created, logs: logs, firstLogIndex: firstLogIndex
        )
    }

    /// Builds the block's header from its contents, with every root computed.
    static func seal(
        number: UInt64, parentHash: Bytes32, timestamp: UInt64, transactions: [IncludedTransaction], state: WorldState,
        extraData: [UInt8] = SimulatedChain.extraData
    ) -> SimBlock {
        var bloom = [UInt8](repeating: 0, count: 256)
        for tx in transactions {
            for (i, byte) in tx.bloom.enumerated() { bloom[i] |= byte }
        }
        let numberBytes = RLPItem.uint(number).byteString!
        let header = BlockHeader(
            parentHash: parentHash,
            ommersHash: .emptyListHash,
            coinbase: [UInt8](repeating: 0, count: 20),
            stateRoot: state.root,
            transactionsRoot: MerklePatriciaTrie.indexedRoot(transactions.map(\.transaction.raw)),
            receiptsRoot: MerklePatriciaTrie.indexedRoot(transactions.map(\.encodedReceipt)),
            logsBloom: bloom,
            difficulty: [],
            number: numberBytes,
            gasLimit: RLPItem.uint(gasLimit).byteString!,
            gasUsed: RLPItem.uint(transactions.last?.cumulativeGasUsed ?? 0).byteString!,
            timestamp: RLPItem.uint(timestamp).byteString!,
            extraData: extraData,
            mixHash: Keccak256.hash(Array("prevrandao".utf8) + numberBytes),
            nonce: [UInt8](repeating: 0, count: 8),
            baseFeePerGas: baseFee.bigEndianBytes,
            withdrawalsRoot: .emptyTrieRoot,
            blobGasUsed: [],
            excessBlobGas: [],
            parentBeaconBlockRoot: Keccak256.hash(Array("beacon".utf8) + numberBytes),
            requestsHash: emptyRequestsHash
        )
        let body = RLP.encode(.list([
            header.rlpItem,
            .list(transactions.map { tx in
                tx.transaction.kind == .legacy ? (try! RLP.decode(tx.transaction.raw)) : .bytes(tx.transaction.raw)
            }),
            .list([]), .list([]),
        ]))
        return SimBlock(header: header, hash: header.hash, transactions: transactions, state: state, size: body.count)
    }
}
