/// Verification of Merkle-Patricia proofs as `eth_getProof` returns them (EIP-1186):
/// the nodes on the path from the root to a key, root first; nodes shorter than
/// 32 bytes are embedded in their parent and not listed.
public enum MerkleProof {
    /// The value stored under `key` in the trie with root `root`, or nil when the
    /// proof shows that the key is absent.
    ///
    /// Every node must be canonical RLP, every listed node must hash to the
    /// reference its parent (or the root) holds, and every listed node must be
    /// used. Throws `malformedInput` for nodes that are not trie nodes and for a
    /// proof that ends before the path does, `mismatch` for a hash that differs.
    public static func value(forKey key: [UInt8], root: Bytes32, proof: [[UInt8]]) throws(VerificationError) -> [UInt8]? {
        for (index, node) in proof.enumerated() {
            do {
                try RLP.validate(node, from: 0, to: node.count)
            } catch {
                throw .malformed("proof node \(index) is not valid RLP: \(error)")
            }
        }
        if proof.isEmpty && root == .emptyTrieRoot { return nil }

        let path = Nibbles.of(key)
        var consumed = 0
        var nextIndex = 0
        // The node being walked: either a listed proof node or a node embedded in its parent.
        var buffer: [UInt8]
        var start = 0
        var end = 0
        var expectedHash: Bytes32? = root

        func usedAll() throws(VerificationError) {
            if nextIndex != proof.count {
                throw .malformed("proof has \(proof.count - nextIndex) node(s) after the end of the path")
            }
        }

        /// Continues the walk at `child`: the next listed node, or a node inside the current one.
        func descend(to child: NodeView.Reference) {
            switch child {
            case .empty:
                break
            case .hash(let hash):
                expectedHash = hash
            case .embedded(let s, let e):
                expectedHash = nil
                start = s
                end = e
            }
        }

        buffer = []
        while true {
            if let hash = expectedHash {
                guard nextIndex < proof.count else {
                    throw .malformed("proof ends after \(proof.count) node(s); the node with hash \(hash) at path depth \(consumed) is missing")
                }
                buffer = proof[nextIndex]
                let actual = Keccak256.hash(buffer)
                guard actual == hash else {
                    let expectation = nextIndex == 0 ? "the root \(hash)" : "\(hash), referenced by node \(nextIndex - 1)"
                    throw .mismatch("proof node \(nextIndex) hashes to \(actual), expected \(expectation)")
                }
                start = 0
                end = buffer.count
                nextIndex += 1
            }
            let node = try NodeView(buffer, start: start, end: end, index: nextIndex - 1)
            switch node.kind {
            case .branch:
                if consumed == path.count {
                    try usedAll()
                    let value = try node.branchValue()
                    return value.isEmpty ? nil : value
                }
                let child = try node.child(at: Int(path[consumed]))
                consumed += 1
                if case .empty = child {
                    try usedAll()
                    return nil
                }
                descend(to: child)
            case .leaf(let nodePath, let valueStart, let valueEnd):
                try usedAll()
                guard path[consumed...].elementsEqual(nodePath) else { return nil }
                let value = Array(buffer[valueStart..<valueEnd])
                return value.isEmpty ? nil : value
            case .extension(let nodePath, let child):
                guard path.count - consumed >= nodePath.count,
                      path[consumed..<consumed + nodePath.count].elementsEqual(nodePath) else {
                    try usedAll()
                    return nil
                }
                consumed += nodePath.count
                if case .empty = child {
                    throw .malformed("proof node \(nextIndex - 1): extension node without a child")
                }
                descend(to: child)
            }
        }
    }
}

/// A zero-copy view of one trie node inside a buffer.
struct NodeView {
    enum Reference {
        case empty
        case hash(Bytes32)
        case embedded(start: Int, end: Int)
    }

    enum Kind {
        case branch
        case leaf(path: [UInt8], valueStart: Int, valueEnd: Int)
        case `extension`(path: [UInt8], child: Reference)
    }

    let buffer: [UInt8]
    let index: Int
    var kind: Kind = .branch
    /// Start offsets of the 17 items of a branch node.
    private var itemStarts: [Int] = []
    private var itemEnds: [Int] = []

    init(_ buffer: [UInt8], start: Int, end: Int, index: Int) throws(VerificationError) {
        self.buffer = buffer
        self.index = index
        let header: RLPHeader
        do { header = try RLP.readHeader(buffer, at: start, end: end) } catch {
            throw .malformed("proof node \(index) is not valid RLP: \(error)")
        }
        guard header.isList else { throw .malformed("proof node \(index) is a byte string, not a trie node") }
        var cursor = header.payloadStart
        var starts: [Int] = []
        var ends: [Int] = []
        starts.reserveCapacity(17)
        ends.reserveCapacity(17)
        while cursor < header.payloadEnd {
            let item: RLPHeader
            do { item = try RLP.readHeader(buffer, at: cursor, end: header.payloadEnd) } catch {
                throw .malformed("proof node \(index) is not valid RLP: \(error)")
            }
            starts.append(cursor)
            ends.append(item.payloadEnd)
            cursor = item.payloadEnd
        }
        itemStarts = starts
        itemEnds = ends
        switch starts.count {
        case 17:
            kind = .branch
        case 2:
            let pathHeader = try self.header(0)
            guard !pathHeader.isList,
                  let (path, isLeaf) = HexPrefix.decode(buffer[pathHeader.payloadStart..<pathHeader.payloadEnd]) else {
                throw .malformed("proof node \(index) has an invalid hex-prefix path")
            }
            if isLeaf {
                let value = try self.header(1)
                guard !value.isList else { throw .malformed("proof node \(index): leaf value is a list") }
                kind = .leaf(path: path, valueStart: value.payloadStart, valueEnd: value.payloadEnd)
            } else {
                kind = .extension(path: path, child: try reference(1))
            }
        default:
            throw .malformed("proof node \(index) has \(starts.count) items; trie nodes have 2 or 17")
        }
    }

    private func header(_ item: Int) throws(VerificationError) -> RLPHeader {
        do { return try RLP.readHeader(buffer, at: itemStarts[item], end: itemEnds[item]) } catch {
            throw .malformed("proof node \(index) is not valid RLP: \(error)")
        }
    }

    func child(at nibble: Int) throws(VerificationError) -> Reference {
        try reference(nibble)
    }

    func branchValue() throws(VerificationError) -> [UInt8] {
        let value = try header(16)
        guard !value.isList else { throw .malformed("proof node \(index): branch value is a list") }
        return Array(buffer[value.payloadStart..<value.payloadEnd])
    }

    private func reference(_ item: Int) throws(VerificationError) -> Reference {
        let h = try header(item)
        if h.isList {
            guard itemEnds[item] - itemStarts[item] < 32 else {
                throw .malformed("proof node \(index): embedded child of \(itemEnds[item] - itemStarts[item]) bytes must be referenced by hash")
            }
            return .embedded(start: itemStarts[item], end: itemEnds[item])
        }
        switch h.payloadEnd - h.payloadStart {
        case 0: return .empty
        case 32: return .hash(Bytes32(buffer[h.payloadStart..<h.payloadEnd])!)
        case let n: throw .malformed("proof node \(index): child reference of \(n) bytes (expected 32 or empty)")
        }
    }
}
