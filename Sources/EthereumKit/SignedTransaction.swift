import BigInt

/// A signed transaction decoded strictly from its network encoding, the bytes
/// `eth_sendRawTransaction` carries: legacy (with or without EIP-155 replay
/// protection), EIP-2930 access-list and EIP-1559 dynamic-fee transactions.
///
/// Decoding accepts only what a node would: canonical RLP, the exact fields of the
/// type, integers without leading zeros. The fields are plain values; `raw` keeps the
/// bytes that were decoded, so `hash` is the transaction hash a node reports.
public struct SignedTransaction: Sendable, Equatable {
    /// The EIP-2718 transaction type. Blob (3) and set-code (4) transactions are
    /// recognised and rejected as not supported.
    public enum Kind: UInt8, Sendable {
        case legacy = 0
        case accessList = 1
        case dynamicFee = 2

        /// How error messages name the kind.
        var name: String {
            switch self {
            case .legacy: "legacy transaction"
            case .accessList: "type 1 transaction"
            case .dynamicFee: "type 2 transaction"
            }
        }
    }

    /// One EIP-2930 access-list entry: a 20-byte address and the 32-byte storage keys it touches.
    public struct AccessListEntry: Sendable, Equatable {
        public var address: [UInt8]
        public var storageKeys: [[UInt8]]

        public init(address: [UInt8], storageKeys: [[UInt8]] = []) {
            self.address = address
            self.storageKeys = storageKeys
        }
    }

    public var kind: Kind
    /// nil only for a legacy transaction signed before EIP-155 (v = 27 or 28).
    public var chainId: UInt64?
    public var nonce: UInt64
    /// Minimal big-endian. Legacy and type 1: the encoded gas price; type 2: `maxFeePerGas`.
    public var gasPrice: [UInt8]
    /// Minimal big-endian. Type 2: the encoded tip; other types: `gasPrice`.
    public var maxPriorityFeePerGas: [UInt8]
    /// Minimal big-endian. Type 2: the encoded fee cap; other types: `gasPrice`.
    public var maxFeePerGas: [UInt8]
    public var gas: UInt64
    /// The 20-byte recipient; nil creates a contract.
    public var to: [UInt8]?
    /// Wei, minimal big-endian.
    public var value: [UInt8]
    public var input: [UInt8]
    /// Empty for legacy transactions.
    public var accessList: [AccessListEntry]
    /// As encoded. Legacy: 27/28 or chainId·2 + 35/36; typed: the y parity (empty for 0, [1] for 1).
    public var v: [UInt8]
    /// Minimal big-endian, as encoded.
    public var r: [UInt8]
    /// Minimal big-endian, as encoded.
    public var s: [UInt8]
    /// The exact bytes this transaction was decoded from.
    public let raw: [UInt8]

    /// The transaction hash: keccak256 of the network encoding.
    public var hash: Bytes32 { Keccak256.hash(raw) }

    init(
        kind: Kind, chainId: UInt64?, nonce: UInt64, gasPrice: [UInt8], maxPriorityFeePerGas: [UInt8],
        maxFeePerGas: [UInt8], gas: UInt64, to: [UInt8]?, value: [UInt8], input: [UInt8],
        accessList: [AccessListEntry], v: [UInt8], r: [UInt8], s: [UInt8], raw: [UInt8]
    ) {
        self.kind = kind
        self.chainId = chainId
        self.nonce = nonce
        self.gasPrice = gasPrice
        self.maxPriorityFeePerGas = maxPriorityFeePerGas
        self.maxFeePerGas = maxFeePerGas
        self.gas = gas
        self.to = to
        self.value = value
        self.input = input
        self.accessList = accessList
        self.v = v
        self.r = r
        self.s = s
        self.raw = raw
    }

    // MARK: Decoding

    /// Decodes a network-encoded signed transaction: `rlp([fields…])` for legacy,
    /// `type ‖ rlp([fields…])` for types 1 and 2. Rejects non-canonical RLP and trailing
    /// bytes, a wrong number of fields, integers with leading zero bytes, a `to` that is
    /// neither 20 bytes nor empty, access-list addresses that are not 20 bytes and keys
    /// that are not 32, a nonce, gas or chain id beyond 64 bits, amounts beyond 256 bits,
    /// a legacy v that encodes no recovery id, and a y parity other than 0 or 1.
    /// The signature itself is checked by `sender()`.
    public init(raw: [UInt8]) throws(TransactionDecodingError) {
        guard let first = raw.first else { throw TransactionDecodingError("empty input: no transaction bytes") }
        let kind: Kind
        switch first {
        case 0xC0...:
            kind = .legacy
        case 0x80..<0xC0:
            throw TransactionDecodingError("not a transaction: an RLP string, where a legacy transaction is an RLP list")
        case 0:
            throw TransactionDecodingError("type byte 0x00 is not allowed: legacy transactions carry no type byte")
        case 3, 4:
            throw TransactionDecodingError("transaction type \(first) not supported")
        default:
            guard let typed = Kind(rawValue: first) else {
                throw TransactionDecodingError("unknown transaction type 0x\(String(first, radix: 16))")
            }
            kind = typed
        }
        let payloadStart = kind == .legacy ? 0 : 1
        guard raw.count > payloadStart else { throw TransactionDecodingError("\(kind.name) has no payload after its type byte") }
        let item: RLPItem
        do {
            item = try RLP.decode(raw, from: payloadStart, to: raw.count)
        } catch {
            throw TransactionDecodingError("\(kind.name): \(error)")
        }
        guard case .list(let items) = item else {
            throw TransactionDecodingError("\(kind.name): payload is an RLP string, expected a list of fields")
        }
        let fields = FieldReader(kind: kind, items: items)
        let expectedCount = switch kind {
        case .legacy: 9
        case .accessList: 11
        case .dynamicFee: 12
        }
        guard items.count == expectedCount else {
            throw TransactionDecodingError("\(kind.name) has \(items.count) fields, expected \(expectedCount)")
        }

        // Typed transactions share the layout after their fee fields; legacy lacks chainId
        // and the access list, and ends with v instead of a y parity.
        var index = 0
        var chainId: UInt64? = nil
        if kind != .legacy {
            chainId = try fields.uint64(index, "chainId")
            index += 1
        }
        let nonce = try fields.uint64(index, "nonce")
        index += 1
        let gasPrice: [UInt8], maxPriorityFeePerGas: [UInt8], maxFeePerGas: [UInt8]
        if kind == .dynamicFee {
            maxPriorityFeePerGas = try fields.quantity(index, "maxPriorityFeePerGas")
            maxFeePerGas = try fields.quantity(index + 1, "maxFeePerGas")
            gasPrice = maxFeePerGas
            index += 2
        } else {
            gasPrice = try fields.quantity(index, "gasPrice")
            maxPriorityFeePerGas = gasPrice
            maxFeePerGas = gasPrice
            index += 1
        }
        let gas = try fields.uint64(index, "gas")
        let to = try fields.bytes(index + 1, "to")
        guard to.isEmpty || to.count == 20 else {
            throw TransactionDecodingError("\(kind.name): to is \(to.count) bytes, expected 20 or empty (contract creation)")
        }
        let value = try fields.quantity(index + 2, "value")
        let input = try fields.bytes(index + 3, "input")
        index += 4
        var accessList: [AccessListEntry] = []
        if kind != .legacy {
            accessList = try fields.accessList(index)
            index += 1
        }
        let v: [UInt8]
        if kind == .legacy {
            v = try fields.quantity(index, "v")
            chainId = try Self.chainId(legacyV: v)
        } else {
            v = try fields.quantity(index, "yParity")
            guard v.isEmpty || v == [1] else {
                throw TransactionDecodingError("\(kind.name): yParity is 0x\(Hex.encode(v, prefix: false)), expected 0 or 1")
            }
        }
        let r = try fields.quantity(index + 1, "r")
        let s = try fields.quantity(index + 2, "s")

        self.init(
            kind: kind, chainId: chainId, nonce: nonce, gasPrice: gasPrice,
            maxPriorityFeePerGas: maxPriorityFeePerGas, maxFeePerGas: maxFeePerGas, gas: gas,
            to: to.isEmpty ? nil : to, value: value, input: input, accessList: accessList,
            v: v, r: r, s: s, raw: raw)
    }

    /// The chain id a legacy v encodes: nil for 27/28 (pre-EIP-155), else (v − 35) / 2.
    private static func chainId(legacyV v: [UInt8]) throws(TransactionDecodingError) -> UInt64? {
        let value = Secp256k1.integer(v)
        if value == 27 || value == 28 { return nil }
        guard value >= 35 else {
            throw TransactionDecodingError("legacy transaction: v = \(value) is neither 27/28 nor chainId·2 + 35/36")
        }
        let chainId = (value - 35) / 2
        guard chainId <= BigUInt(UInt64.max) else {
            throw TransactionDecodingError("legacy transaction: v = \(value) encodes a chainId beyond 64 bits")
        }
        return UInt64(chainId)
    }

    // MARK: Signature

    /// The recovery id (0 or 1) that `v` encodes, checked against `kind` and `chainId`.
    var recoveryId: UInt8 {
        get throws(SignatureError) {
            guard kind == .legacy else {
                switch v {
                case []: return 0
                case [1]: return 1
                default: throw SignatureError("yParity 0x\(Hex.encode(v, prefix: false)) is not 0 or 1")
                }
            }
            let value = Secp256k1.integer(v)
            let base: BigUInt = chainId.map { BigUInt($0) * 2 + 35 } ?? 27
            guard value >= base, value - base <= 1 else {
                let expected = chainId.map { "chainId \($0) (\(BigUInt($0) * 2 + 35) or \(BigUInt($0) * 2 + 36))" } ?? "no chainId (27 or 28)"
                throw SignatureError("legacy v = \(value) does not match \(expected)")
            }
            return UInt8(value - base)
        }
    }

    /// The 20-byte address that signed the transaction, recovered from the signature
    /// over `signingHash`. Throws for a signature Ethereum would not accept (see
    /// `Secp256k1.recoverPublicKey`), including high-s signatures.
    public func sender() throws(SignatureError) -> [UInt8] {
        let publicKey = try Secp256k1.recoverPublicKey(messageHash: signingHash, r: r, s: s, recoveryId: try recoveryId)
        return Secp256k1.address(publicKey: publicKey)
    }
}

/// Why bytes are not a signed transaction this decoder accepts, in one line.
public struct TransactionDecodingError: Error, Equatable, Sendable, CustomStringConvertible {
    public let message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}

/// Reads the fields of a decoded transaction list with the checks each one needs,
/// naming the field and transaction kind in every error.
private struct FieldReader {
    let kind: SignedTransaction.Kind
    let items: [RLPItem]

    private func fail(_ reason: String) -> TransactionDecodingError {
        TransactionDecodingError("\(kind.name): \(reason)")
    }

    /// A byte string of any length.
    func bytes(_ index: Int, _ name: String) throws(TransactionDecodingError) -> [UInt8] {
        guard case .bytes(let bytes) = items[index] else { throw fail("\(name) is a list, expected a byte string") }
        return bytes
    }

    /// An unsigned integer of at most 256 bits, minimal big-endian.
    func quantity(_ index: Int, _ name: String, maxBytes: Int = 32) throws(TransactionDecodingError) -> [UInt8] {
        let bytes = try bytes(index, name)
        guard bytes.first != 0 else { throw fail("\(name) has leading zero bytes") }
        guard bytes.count <= maxBytes else { throw fail("\(name) is \(bytes.count) bytes, more than \(maxBytes * 8) bits") }
        return bytes
    }

    func uint64(_ index: Int, _ name: String) throws(TransactionDecodingError) -> UInt64 {
        try quantity(index, name, maxBytes: 8).reduce(0) { $0 << 8 | UInt64($1) }
    }

    func accessList(_ index: Int) throws(TransactionDecodingError) -> [SignedTransaction.AccessListEntry] {
        guard case .list(let entries) = items[index] else { throw fail("accessList is a byte string, expected a list") }
        var result: [SignedTransaction.AccessListEntry] = []
        result.reserveCapacity(entries.count)
        for (i, entry) in entries.enumerated() {
            guard case .list(let parts) = entry, parts.count == 2 else {
                throw fail("accessList[\(i)] is not a list of [address, storageKeys]")
            }
            guard case .bytes(let address) = parts[0], address.count == 20 else {
                throw fail("accessList[\(i)].address is not 20 bytes")
            }
            guard case .list(let keyItems) = parts[1] else {
                throw fail("accessList[\(i)].storageKeys is not a list")
            }
            var keys: [[UInt8]] = []
            keys.reserveCapacity(keyItems.count)
            for (k, keyItem) in keyItems.enumerated() {
                guard case .bytes(let key) = keyItem, key.count == 32 else {
                    throw fail("accessList[\(i)].storageKeys[\(k)] is not 32 bytes")
                }
                keys.append(key)
            }
            result.append(SignedTransaction.AccessListEntry(address: address, storageKeys: keys))
        }
        return result
    }
}
