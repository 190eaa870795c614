/// An execution-layer block header with the fields of every mainnet fork from
/// Frontier to Prague, in the order of execution-specs' `Header`.
///
/// Fields added by later forks are optional and must appear in fork order:
/// London added `baseFeePerGas`, Shanghai `withdrawalsRoot`, Cancun
/// `blobGasUsed`, `excessBlobGas` and `parentBeaconBlockRoot`, Prague `requestsHash`.
/// Quantities are kept as minimal big-endian bytes, exactly as RLP carries them.
public struct BlockHeader: Equatable, Sendable {
    public var parentHash: Bytes32
    public var ommersHash: Bytes32
    public var coinbase: [UInt8]
    public var stateRoot: Bytes32
    public var transactionsRoot: Bytes32
    public var receiptsRoot: Bytes32
    public var logsBloom: [UInt8]
    public var difficulty: [UInt8]
    public var number: [UInt8]
    public var gasLimit: [UInt8]
    public var gasUsed: [UInt8]
    public var timestamp: [UInt8]
    public var extraData: [UInt8]
    public var mixHash: Bytes32
    public var nonce: [UInt8]
    public var baseFeePerGas: [UInt8]?
    public var withdrawalsRoot: Bytes32?
    public var blobGasUsed: [UInt8]?
    public var excessBlobGas: [UInt8]?
    public var parentBeaconBlockRoot: Bytes32?
    public var requestsHash: Bytes32?

    public init(
        parentHash: Bytes32, ommersHash: Bytes32, coinbase: [UInt8], stateRoot: Bytes32, transactionsRoot: Bytes32,
        receiptsRoot: Bytes32, logsBloom: [UInt8], difficulty: [UInt8], number: [UInt8], gasLimit: [UInt8],
        gasUsed: [UInt8], timestamp: [UInt8], extraData: [UInt8], mixHash: Bytes32, nonce: [UInt8],
        baseFeePerGas: [UInt8]? = nil, withdrawalsRoot: Bytes32? = nil, blobGasUsed: [UInt8]? = nil,
        excessBlobGas: [UInt8]? = nil, parentBeaconBlockRoot: Bytes32? = nil, requestsHash: Bytes32? = nil
    ) {
        self.parentHash = parentHash
        self.ommersHash = ommersHash
        self.coinbase = coinbase
        self.stateRoot = stateRoot
        self.transactionsRoot = transactionsRoot
        self.receiptsRoot = receiptsRoot
        self.logsBloom = logsBloom
        self.difficulty = difficulty
        self.number = number
        self.gasLimit = gasLimit
        self.gasUsed = gasUsed
        self.timestamp = timestamp
        self.extraData = extraData
        self.mixHash = mixHash
        self.nonce = nonce
        self.baseFeePerGas = baseFeePerGas
        self.withdrawalsRoot = withdrawalsRoot
        self.blobGasUsed = blobGasUsed
        self.excessBlobGas = excessBlobGas
        self.parentBeaconBlockRoot = parentBeaconBlockRoot
        self.requestsHash = requestsHash
    }

    /// JSON names of the fork-dependent fields, in the order they were added.
    static let forkFields = ["baseFeePerGas", "withdrawalsRoot", "blobGasUsed", "excessBlobGas", "parentBeaconBlockRoot", "requestsHash"]

    /// Number of fork-dependent fields present.
    var forkFieldCount: Int {
        [baseFeePerGas != nil, withdrawalsRoot != nil, blobGasUsed != nil, excessBlobGas != nil,
         parentBeaconBlockRoot != nil, requestsHash != nil].filter { $0 }.count
    }

    /// The fork whose header layout this is.
    public var layout: String {
        switch forkFieldCount {
        case 0: "pre-London (Frontier to Berlin)"
        case 1: difficulty.isEmpty ? "Paris" : "London"
        case 2: "Shanghai"
        case 5: "Cancun"
        case 6: "Prague"
        default: "non-mainnet (\(15 + forkFieldCount) fields)"
        }
    }

    /// The block number (headers of real chains fit in 64 bits).
    public var blockNumber: UInt64 { number.prefix(8).reduce(0) { $0 << 8 | UInt64($1) } }

    /// RLP list of the header's fields.
    public var rlpItem: RLPItem {
        var fields: [RLPItem] = [
            .bytes(parentHash.bytes), .bytes(ommersHash.bytes), .bytes(coinbase), .bytes(stateRoot.bytes),
            .bytes(transactionsRoot.bytes), .bytes(receiptsRoot.bytes), .bytes(logsBloom), .bytes(difficulty),
            .bytes(number), .bytes(gasLimit), .bytes(gasUsed), .bytes(timestamp), .bytes(extraData),
            .bytes(mixHash.bytes), .bytes(nonce),
        ]
        if let baseFeePerGas { fields.append(.bytes(baseFeePerGas)) }
        if let withdrawalsRoot { fields.append(.bytes(withdrawalsRoot.bytes)) }
        if let blobGasUsed { fields.append(.bytes(blobGasUsed)) }
        if let excessBlobGas { fields.append(.bytes(excessBlobGas)) }
        if let parentBeaconBlockRoot { fields.append(.bytes(parentBeaconBlockRoot.bytes)) }
        if let requestsHash { fields.append(.bytes(requestsHash.bytes)) }
        return .list(fields)
    }

    /// `rlp(header)`.
    public var encoded: [UInt8] { RLP.encode(rlpItem) }

    /// The block hash: `keccak256(rlp(header))`.
    public var hash: Bytes32 { Keccak256.hash(encoded) }
}

extension BlockHeader {
    /// The header of a block as `eth_getBlockByNumber` / `eth_getBlockByHash` return it.
    public init(json: JSONValue) throws(VerificationError) {
        let fields = try JSONFields(json, what: "a block")
        parentHash = try fields.hash("parentHash")
        ommersHash = try fields.hash("sha3Uncles")
        coinbase = try fields.data("miner", count: 20)
        stateRoot = try fields.hash("stateRoot")
        transactionsRoot = try fields.hash("transactionsRoot")
        receiptsRoot = try fields.hash("receiptsRoot")
        logsBloom = try fields.data("logsBloom", count: 256)
        difficulty = try fields.quantity("difficulty")
        number = try fields.quantity("number")
        gasLimit = try fields.quantity("gasLimit")
        gasUsed = try fields.quantity("gasUsed")
        timestamp = try fields.quantity("timestamp")
        extraData = try fields.data("extraData")
        mixHash = try fields.hash(fields.has("mixHash") || !fields.has("prevRandao") ? "mixHash" : "prevRandao")
        nonce = try fields.data("nonce", count: 8)

        let present = Self.forkFields.map { fields.has($0) }
        if let firstMissing = present.firstIndex(of: false), let lastPresent = present.lastIndex(of: true),
           lastPresent > firstMissing {
            throw .malformed("field '\(Self.forkFields[lastPresent])' is present but '\(Self.forkFields[firstMissing])', added by an earlier fork, is missing")
        }
        baseFeePerGas = present[0] ? try fields.quantity("baseFeePerGas") : nil
        withdrawalsRoot = present[1] ? try fields.hash("withdrawalsRoot") : nil
        blobGasUsed = present[2] ? try fields.quantity("blobGasUsed") : nil
        excessBlobGas = present[3] ? try fields.quantity("excessBlobGas") : nil
        parentBeaconBlockRoot = present[4] ? try fields.hash("parentBeaconBlockRoot") : nil
        requestsHash = present[5] ? try fields.hash("requestsHash") : nil
    }

    /// A header decoded from its RLP list (as in a block of `chain.rlp` or `debug_getRawHeader`).
    public init(rlp item: RLPItem) throws(VerificationError) {
        guard let items = item.listItems else { throw .malformed("header is not an RLP list") }
        guard (15...21).contains(items.count) else {
            throw .malformed("header has \(items.count) fields; Frontier to Prague headers have 15 to 21")
        }
        var strings: [[UInt8]] = []
        for (index, field) in items.enumerated() {
            guard let bytes = field.byteString else { throw .malformed("header field \(index) is a list") }
            strings.append(bytes)
        }
        func hash(_ index: Int) throws(VerificationError) -> Bytes32 {
            guard let value = Bytes32(strings[index]) else {
                throw .malformed("header field \(index) has \(strings[index].count) bytes, expected 32")
            }
            return value
        }
        func quantity(_ index: Int) throws(VerificationError) -> [UInt8] {
            if strings[index].first == 0 { throw .malformed("header field \(index) is an integer with leading zeros") }
            return strings[index]
        }
        func optional<T>(_ index: Int, _ read: (Int) throws(VerificationError) -> T) throws(VerificationError) -> T? {
            index < strings.count ? try read(index) : nil
        }
        parentHash = try hash(0)
        ommersHash = try hash(1)
        coinbase = strings[2]
        stateRoot = try hash(3)
        transactionsRoot = try hash(4)
        receiptsRoot = try hash(5)
        logsBloom = strings[6]
        difficulty = try quantity(7)
        number = try quantity(8)
        gasLimit = try quantity(9)
        gasUsed = try quantity(10)
        timestamp = try quantity(11)
        extraData = strings[12]
        mixHash = try hash(13)
        nonce = strings[14]
        baseFeePerGas = try optional(15, quantity)
        withdrawalsRoot = try optional(16, hash)
        blobGasUsed = try optional(17, quantity)
        excessBlobGas = try optional(18, quantity)
        parentBeaconBlockRoot = try optional(19, hash)
        requestsHash = try optional(20, hash)
        guard coinbase.count == 20, logsBloom.count == 256, nonce.count == 8 else {
            throw .malformed("header has a coinbase, logsBloom or nonce of the wrong size")
        }
    }
}
