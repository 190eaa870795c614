/// Root computation for Ethereum's Merkle-Patricia trie.
///
/// The root depends only on the final key/value set, not on insertion order,
/// so it is built in one pass over the sorted keys. Used to rebuild
/// `transactionsRoot`, `receiptsRoot` and `withdrawalsRoot`, and for tests.
public enum MerklePatriciaTrie {
    /// Root of the trie holding `entries`. Empty values mean "absent" and are skipped;
    /// for a key given twice the last value wins.
    public static func root(of entries: some Sequence<(key: [UInt8], value: [UInt8])>) -> Bytes32 {
        let items = sortedItems(entries)
        guard !items.isEmpty else { return .emptyTrieRoot }
        var unused: [[UInt8]] = []
        return Keccak256.hash(encodeNode(items[...], depth: 0, proofPath: nil, proof: &unused))
    }

    /// The EIP-1186 proof for `key` in the trie holding `entries`: the nodes on the path
    /// to the key, root first, leaving out nodes embedded in their parent. For an absent
    /// key it ends at the node that shows the absence.
    public static func proof(
        forKey key: [UInt8], in entries: some Sequence<(key: [UInt8], value: [UInt8])>
    ) -> [[UInt8]] {
        let items = sortedItems(entries)
        guard !items.isEmpty else { return [] }
        var nodes: [[UInt8]] = []
        let root = encodeNode(items[...], depth: 0, proofPath: Nibbles.of(key), proof: &nodes)
        // Children are encoded before their parents; the root is listed even when short.
        nodes.reverse()
        if root.count < 32 { nodes.insert(root, at: 0) }
        return nodes
    }

    private static func sortedItems(_ entries: some Sequence<(key: [UInt8], value: [UInt8])>) -> [Item] {
        var latest: [[UInt8]: [UInt8]] = [:]
        for entry in entries { latest[entry.key] = entry.value }
        return latest.filter { !$0.value.isEmpty }
            .map { (path: Nibbles.of($0.key), value: $0.value) }
            .sorted { $0.path.lexicographicallyPrecedes($1.path) }
    }

    /// Root of the trie that maps `rlp(index)` to `values[index]`: the layout of the
    /// transactions, receipts and withdrawals tries.
    public static func indexedRoot(_ values: [[UInt8]]) -> Bytes32 {
        root(of: values.enumerated().map { (key: RLP.encode(.uint(UInt64($0.offset))), value: $0.element) })
    }

    typealias Item = (path: [UInt8], value: [UInt8])

    /// Encoding of the node holding `items`, whose paths agree on their first `depth` nibbles.
    /// When `proofPath` is given, the node is on that path: hash-referenced nodes on it are
    /// appended to `proof`, children before parents.
    private static func encodeNode(
        _ items: ArraySlice<Item>, depth: Int, proofPath: [UInt8]?, proof: inout [[UInt8]]
    ) -> [UInt8] {
        let encoded = encodeNodeBody(items, depth: depth, proofPath: proofPath, proof: &proof)
        if proofPath != nil && encoded.count >= 32 { proof.append(encoded) }
        return encoded
    }

    private static func encodeNodeBody(
        _ items: ArraySlice<Item>, depth: Int, proofPath: [UInt8]?, proof: inout [[UInt8]]
    ) -> [UInt8] {
        let first = items.first!
        if items.count == 1 {
            return encodeTwoItemNode(path: first.path[depth...], isLeaf: true, second: encodeString(first.value))
        }
        // Sorted, so the common prefix of all paths is that of the first and last.
        let last = items.last!
        var shared = 0
        while depth + shared < first.path.count && depth + shared < last.path.count
            && first.path[depth + shared] == last.path[depth + shared] {
            shared += 1
        }
        if shared > 0 {
            let childOnPath = proofPath.flatMap {
                $0.count >= depth + shared && $0[depth..<depth + shared].elementsEqual(first.path[depth..<depth + shared]) ? $0 : nil
            }
            let child = encodeBranch(items, depth: depth + shared, proofPath: childOnPath, proof: &proof)
            if childOnPath != nil && child.count >= 32 { proof.append(child) }
            return encodeTwoItemNode(path: first.path[depth..<depth + shared], isLeaf: false, second: reference(to: child))
        }
        return encodeBranch(items, depth: depth, proofPath: proofPath, proof: &proof)
    }

    private static func encodeBranch(
        _ items: ArraySlice<Item>, depth: Int, proofPath: [UInt8]?, proof: inout [[UInt8]]
    ) -> [UInt8] {
        var payload: [UInt8] = []
        var rest = items
        var value: [UInt8] = [0x80]
        if let first = rest.first, first.path.count == depth {
            value = encodeString(first.value)
            rest = rest.dropFirst()
        }
        for nibble in UInt8(0)..<16 {
            var end = rest.startIndex
            while end < rest.endIndex && rest[end].path[depth] == nibble { end += 1 }
            if end == rest.startIndex {
                payload.append(0x80)
            } else {
                let onPath = proofPath.flatMap { $0.count > depth && $0[depth] == nibble ? $0 : nil }
                payload += reference(to: encodeNode(rest[rest.startIndex..<end], depth: depth + 1, proofPath: onPath, proof: &proof))
                rest = rest[end...]
            }
        }
        payload += value
        var out: [UInt8] = []
        RLP.appendListPrefix(payloadLength: payload.count, to: &out)
        return out + payload
    }

    private static func encodeTwoItemNode(path: ArraySlice<UInt8>, isLeaf: Bool, second: [UInt8]) -> [UInt8] {
        var payload = encodeString(HexPrefix.encode(path, isLeaf: isLeaf))
        payload += second
        var out: [UInt8] = []
        RLP.appendListPrefix(payloadLength: payload.count, to: &out)
        return out + payload
    }

    /// How a parent refers to a child: inline when its encoding is shorter than 32 bytes, else by hash.
    private static func reference(to encodedChild: [UInt8]) -> [UInt8] {
        encodedChild.count < 32 ? encodedChild : encodeString(Keccak256.hash(encodedChild).bytes)
    }

    private static func encodeString(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        RLP.appendBytes(bytes, to: &out)
        return out
    }
}
