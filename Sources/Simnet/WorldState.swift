import BigInt
import EthereumKit

/// A 20-byte account address.
typealias Address = [UInt8]

/// One account of the simulated state.
struct Account: Equatable, Sendable {
    var nonce: UInt64 = 0
    var balance: BigUInt = 0
    var code: [UInt8] = []
    /// Storage slots (32-byte keys) with non-zero values.
    var storage: [[UInt8]: BigUInt] = [:]

    var codeHash: Bytes32 { Keccak256.hash(code) }

    /// Entries of the account's storage trie: keccak256(slot) → rlp(value).
    var storageEntries: [(key: [UInt8], value: [UInt8])] {
        storage.filter { !$0.value.isZero }.map { (key: Keccak256.hash($0.key).bytes, value: RLP.encode(.bytes($0.value.bigEndianBytes))) }
    }

    var storageRoot: Bytes32 { MerklePatriciaTrie.root(of: storageEntries) }

    /// The account as the state trie holds it: rlp([nonce, balance, storageRoot, codeHash]).
    var encoded: [UInt8] {
        RLP.encode(.list([.uint(nonce), .bytes(balance.bigEndianBytes), .bytes(storageRoot.bytes), .bytes(codeHash.bytes)]))
    }

    /// Whether the account is empty in the EIP-161 sense (and so absent from the trie).
    var isEmpty: Bool { nonce == 0 && balance.isZero && code.isEmpty }
}

/// The accounts of the chain after some block. A value type: every block keeps its own.
struct WorldState: Sendable {
    var accounts: [Address: Account] = [:]

    subscript(address: Address) -> Account {
        get { accounts[address] ?? Account() }
        set { accounts[address] = newValue }
    }

    /// Entries of the state trie: keccak256(address) → rlp(account), empty accounts left out.
    var trieEntries: [(key: [UInt8], value: [UInt8])] {
        accounts.filter { !$0.value.isEmpty }.map { (key: Keccak256.hash($0.key).bytes, value: $0.value.encoded) }
    }

    var root: Bytes32 { MerklePatriciaTrie.root(of: trieEntries) }
}

extension BigUInt {
    /// Minimal big-endian bytes (empty for zero), as RLP and JSON quantities carry them.
    var bigEndianBytes: [UInt8] {
        var bytes: [UInt8] = []
        var value = self
        while !value.isZero {
            bytes.append(UInt8(truncatingIfNeeded: value & 0xFF))
            value >>= 8
        }
        return bytes.reversed()
    }

    init(bigEndian bytes: some Collection<UInt8>) {
        self = bytes.reduce(BigUInt(0)) { $0 << 8 | BigUInt($1) }
    }
}
