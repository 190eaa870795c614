/// A 32-byte value: a keccak256 hash, a trie root, a storage slot. Stored inline
/// (no heap allocation), compared and hashed as four machine words.
public struct Bytes32: Hashable, Sendable {
    /// The 32 bytes in memory order, as four native words.
    var words: (UInt64, UInt64, UInt64, UInt64)

    init(words: (UInt64, UInt64, UInt64, UInt64)) {
        self.words = words
    }

    /// The value whose bytes are `bytes`; nil unless there are exactly 32 of them.
    public init?(_ bytes: some Collection<UInt8>) {
        guard bytes.count == 32 else { return nil }
        var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        withUnsafeMutableBytes(of: &words) { raw in
            for (i, byte) in bytes.enumerated() { raw[i] = byte }
        }
        self.words = words
    }

    /// 32 zero bytes.
    public static let zero = Bytes32(words: (0, 0, 0, 0))

    /// keccak256 of the empty string: the `codeHash` of an account without code.
    public static let emptyCodeHash = Keccak256.hash([UInt8]())

    /// Root hash of a trie with no entries: keccak256(rlp("")) = keccak256(0x80).
    public static let emptyTrieRoot = Keccak256.hash([0x80] as [UInt8])

    /// keccak256(rlp([])): the `sha3Uncles` of a block without ommers.
    public static let emptyListHash = Keccak256.hash([0xC0] as [UInt8])

    /// The bytes as an array.
    public var bytes: [UInt8] {
        withUnsafeBytes(of: words) { Array($0) }
    }

    public static func == (lhs: Bytes32, rhs: Bytes32) -> Bool {
        lhs.words.0 == rhs.words.0 && lhs.words.1 == rhs.words.1
            && lhs.words.2 == rhs.words.2 && lhs.words.3 == rhs.words.3
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(words.0)
        hasher.combine(words.1)
        hasher.combine(words.2)
        hasher.combine(words.3)
    }

    /// Whether `bytes` are exactly these 32 bytes.
    func matches(_ bytes: ArraySlice<UInt8>) -> Bool {
        guard bytes.count == 32 else { return false }
        return withUnsafeBytes(of: words) { mine in
            bytes.withUnsafeBytes { theirs in
                mine.elementsEqual(theirs)
            }
        }
    }
}

extension Bytes32: CustomStringConvertible {
    /// `0x`-prefixed lowercase hex.
    public var description: String { Hex.encode(bytes) }
}
