/// An `eth_getProof` answer (EIP-1186): an account's fields, the proof of the
/// account in the state trie, and proofs of storage slots in its storage trie.
public struct AccountProof: Sendable, Equatable {
    public struct StorageProof: Sendable, Equatable {
        /// The slot, left-padded to 32 bytes.
        public var key: [UInt8]
        /// The claimed value as minimal big-endian bytes (empty for zero).
        public var value: [UInt8]
        public var proof: [[UInt8]]
    }

    public var address: [UInt8]
    public var balance: [UInt8]
    public var nonce: [UInt8]
    public var codeHash: Bytes32
    public var storageHash: Bytes32
    public var accountProof: [[UInt8]]
    public var storageProofs: [StorageProof]

    public init(json: JSONValue) throws(VerificationError) {
        let fields = try JSONFields(json, what: "an eth_getProof result")
        address = try fields.data("address", count: 20)
        balance = try fields.quantity("balance")
        nonce = try fields.quantity("nonce")
        codeHash = try fields.hash("codeHash")
        storageHash = try fields.hash("storageHash")
        accountProof = try Self.nodes(fields, "accountProof")
        storageProofs = []
        for (i, item) in try fields.array("storageProof").enumerated() {
            let entry = try JSONFields(item, path: "storageProof[\(i)]", what: "a storage proof")
            let key = try entry.quantity("key")
            guard key.count <= 32 else { throw .malformed("field '\(entry.name("key"))': a storage slot has at most 32 bytes") }
            storageProofs.append(StorageProof(
                key: [UInt8](repeating: 0, count: 32 - key.count) + key,
                value: try entry.quantity("value"),
                proof: try Self.nodes(entry, "proof")
            ))
        }
    }

    private static func nodes(_ fields: JSONFields, _ key: String) throws(VerificationError) -> [[UInt8]] {
        var nodes: [[UInt8]] = []
        for (i, node) in try fields.array(key).enumerated() {
            guard case .string(let string) = node else { throw .malformed("\(fields.name(key))[\(i)]: expected a hex string") }
            do { nodes.append(try Hex.decode(string)) } catch {
                throw .malformed("\(fields.name(key))[\(i)]: \(error)")
            }
        }
        return nodes
    }

    /// Whether the account proof shows the account to exist; throws unless the
    /// account proof verifies against `stateRoot`, every claimed field equals what
    /// the proof holds, and every storage proof verifies against `storageHash`.
    @discardableResult
    public func verify(stateRoot: Bytes32) throws(VerificationError) -> VerificationReport {
        var report = VerificationReport()
        let account: [UInt8]?
        do {
            account = try MerkleProof.value(forKey: Keccak256.hash(address).bytes, root: stateRoot, proof: accountProof)
        } catch {
            throw VerificationError(error.kind, "account proof: \(error.message)")
        }
        let addressHex = Hex.encode(address)
        if let account {
            let fields = try Self.decodeAccount(account)
            try Self.expect("nonce", claimed: nonce, proven: fields.nonce)
            try Self.expect("balance", claimed: balance, proven: fields.balance)
            guard storageHash == fields.storageRoot else {
                throw .mismatch("storageHash: the answer says \(storageHash) but the proof holds \(fields.storageRoot)")
            }
            guard codeHash == fields.codeHash else {
                throw .mismatch("codeHash: the answer says \(codeHash) but the proof holds \(fields.codeHash)")
            }
            report.passed("account", "\(addressHex) exists with balance \(Hex.encodeQuantity(balance)), nonce \(Hex.encodeQuantity(nonce)) under state root \(stateRoot)")
        } else {
            // Some clients report zero hashes for an account that does not exist.
            guard nonce.isEmpty, balance.isEmpty,
                  storageHash == .emptyTrieRoot || storageHash == .zero,
                  codeHash == .emptyCodeHash || codeHash == .zero else {
                throw .mismatch("account proof shows \(addressHex) does not exist, but the answer claims balance \(Hex.encodeQuantity(balance)), nonce \(Hex.encodeQuantity(nonce))")
            }
            report.passed("account", "\(addressHex) does not exist under state root \(stateRoot)")
        }
        let storageRoot = account == nil ? Bytes32.emptyTrieRoot : storageHash
        for (i, slot) in storageProofs.enumerated() {
            let stored: [UInt8]?
            do {
                stored = try MerkleProof.value(forKey: Keccak256.hash(slot.key).bytes, root: storageRoot, proof: slot.proof)
            } catch {
                throw VerificationError(error.kind, "storageProof[\(i)]: \(error.message)")
            }
            var proven: [UInt8] = []
            if let stored {
                guard case .bytes(let value)? = try? RLP.decode(stored), value.first != 0 else {
                    throw .malformed("storageProof[\(i)]: the stored value is not an RLP-encoded integer")
                }
                proven = value
            }
            guard proven == slot.value else {
                throw .mismatch("storageProof[\(i)]: the answer says slot \(Hex.encode(slot.key)) holds \(Hex.encodeQuantity(slot.value)) but the proof holds \(Hex.encodeQuantity(proven))")
            }
            report.passed("storage", "slot \(Hex.encode(slot.key)) = \(Hex.encodeQuantity(proven))")
        }
        return report
    }

    /// Throws unless `code` hashes to the proven `codeHash`.
    public func verify(code: [UInt8]) throws(VerificationError) {
        let computed = Keccak256.hash(code)
        let expected = codeHash == .zero ? Bytes32.emptyCodeHash : codeHash
        guard computed == expected else {
            throw .mismatch("code hashes to \(computed) but the account's codeHash is \(codeHash)")
        }
    }

    /// The four fields of an account in the state trie.
    public struct AccountFields: Equatable, Sendable {
        public var nonce: [UInt8]
        public var balance: [UInt8]
        public var storageRoot: Bytes32
        public var codeHash: Bytes32
    }

    /// Decodes `rlp([nonce, balance, storageRoot, codeHash])`.
    public static func decodeAccount(_ bytes: [UInt8]) throws(VerificationError) -> AccountFields {
        guard case .list(let items)? = try? RLP.decode(bytes), items.count == 4,
              let nonce = items[0].byteString, let balance = items[1].byteString,
              nonce.first != 0, balance.first != 0,
              let storage = items[2].byteString.flatMap(Bytes32.init), let code = items[3].byteString.flatMap(Bytes32.init) else {
            throw .malformed("account proof: the proven value is not an RLP account [nonce, balance, storageRoot, codeHash]")
        }
        return AccountFields(nonce: nonce, balance: balance, storageRoot: storage, codeHash: code)
    }

    private static func expect(_ name: String, claimed: [UInt8], proven: [UInt8]) throws(VerificationError) {
        guard claimed == proven else {
            throw .mismatch("\(name): the answer says \(Hex.encodeQuantity(claimed)) but the proof holds \(Hex.encodeQuantity(proven))")
        }
    }
}
