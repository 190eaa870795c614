/// Trie paths are sequences of 4-bit nibbles; one nibble per element here.
enum Nibbles {
    /// The nibbles of `bytes`, high nibble first.
    static func of(_ bytes: some Collection<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(byte >> 4)
            out.append(byte & 0x0F)
        }
        return out
    }
}

/// Hex-prefix ("compact") encoding of a nibble path, as used in trie leaf and
/// extension nodes (Yellow Paper, appendix C): the first nibble carries a
/// terminator flag (leaf vs. extension) and whether the path has odd length.
public enum HexPrefix {
    /// Encodes `nibbles` (values 0...15), flagging a leaf when `isLeaf`.
    public static func encode(_ nibbles: some Collection<UInt8>, isLeaf: Bool) -> [UInt8] {
        let flag: UInt8 = isLeaf ? 2 : 0
        var out: [UInt8] = []
        out.reserveCapacity(nibbles.count / 2 + 1)
        var iterator = nibbles.makeIterator()
        if nibbles.count % 2 == 1 {
            out.append((flag | 1) << 4 | iterator.next()!)
        } else {
            out.append(flag << 4)
        }
        while let high = iterator.next(), let low = iterator.next() {
            out.append(high << 4 | low)
        }
        return out
    }

    /// Decodes a compact path into its nibbles and leaf flag; nil when the flag nibble
    /// is not 0–3 or an even path has a non-zero padding nibble.
    public static func decode(_ bytes: some Collection<UInt8>) -> (nibbles: [UInt8], isLeaf: Bool)? {
        guard let first = bytes.first else { return nil }
        let flag = first >> 4
        guard flag <= 3 else { return nil }
        var nibbles: [UInt8] = []
        nibbles.reserveCapacity(bytes.count * 2)
        if flag & 1 == 1 {
            nibbles.append(first & 0x0F)
        } else if first & 0x0F != 0 {
            return nil
        }
        for byte in bytes.dropFirst() {
            nibbles.append(byte >> 4)
            nibbles.append(byte & 0x0F)
        }
        return (nibbles, flag & 2 == 2)
    }
}
